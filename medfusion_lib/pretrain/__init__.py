"""Contrastive image–text pre-training on the paired cohort (lesson 16), one idea per module.

- :mod:`.data`       each split's films, narratives and diagnoses (the diagnoses only to score)
- :mod:`.leakage`    narratives that name the diagnosis: find and mask diagnosis words before pre-training
- :mod:`.loss`       the symmetric InfoNCE (CLIP) loss and the learned, clamped, log-parametrised temperature
- :mod:`.model`      the dual encoder: an image encoder (compact CNN or ViT) and the course's bag-of-terms text
                     encoder, each with a projection into one shared, L2-normalised space
- :mod:`.augment`    per-film augmentation of a whole batch, and word dropout for narratives
- :mod:`.train`      pre-training on the train split's films and (masked) narratives — no diagnosis labels
- :mod:`.cache`      the pre-trained dual encoder for a cohort, cached on the code that trains it
- :mod:`.zero_shot`  symptom prompts per diagnosis -> class text embeddings -> films classified without labels
- :mod:`.retrieval`  recall@k from narrative to film and from film to narrative
- :mod:`.probe`      linear probes on frozen features at labelled fractions, against a supervised CNN

Import from the submodules (the package imports none of them, so ``import medfusion_lib.pretrain`` is light).
"""
