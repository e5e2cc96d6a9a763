"""Hospitals: subgroup fairness, site shift and the burned-in-marker shortcut (lesson 14).

- :mod:`~medfusion_lib.hospitals.subgroups` — per-group scores with CIs (fairlearn), gaps, under-diagnosis;
- :mod:`~medfusion_lib.hospitals.shift` — leave-one-site-out evaluation and the site-prediction probe;
- :mod:`~medfusion_lib.hospitals.markers` — where each site's marker is, masking and swapping it;
- :mod:`~medfusion_lib.hospitals.shortcut` — the confounded sampler and the shortcut experiment.
"""
