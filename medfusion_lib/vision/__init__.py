"""The imaging track: datasets, radiograph transforms, CNNs, the training loop, evaluation, deep features
and DICOM helpers. Import from the submodules, e.g.::

    from medfusion_lib.vision.models import CompactCNN, build_model
    from medfusion_lib.vision.train import TrainConfig, fit
    from medfusion_lib.vision.features import extract_embeddings
"""
