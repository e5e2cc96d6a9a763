"""Explaining the fused model (lesson 13), one idea per module.

- :mod:`.gradcam`       Grad-CAM by hand with hooks, and with captum (``LayerGradCam``)
- :mod:`.localisation`  pointing game and energy inside the generator's finding masks vs random maps
- :mod:`.sanity`        Adebayo et al.'s cascading weight-randomisation check (Spearman per layer)
- :mod:`.symptoms`      integrated gradients on the text branch, mapped to the narrative's symptom spans
- :mod:`.shapley`       exact modality Shapley values (HAIM: retrain per subset) and per-patient ablation
- :mod:`.tcav`          TCAV (captum.concept) with concept sets from the finding masks
- :mod:`.study`         the trained joint model and its films/masks, cached (what the lesson explains)
- :mod:`.case_report`   the one-patient figure
- :mod:`.summary`       ``explain_section(quick)``: the numbers for ``medfusion bench trust``
"""
