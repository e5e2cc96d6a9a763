"""Federated learning across the cohort's hospitals (lesson 15).

- :mod:`~medfusion_lib.federated.fedavg` — one FedAvg aggregation and FedProx's proximal term, by hand;
- :mod:`~medfusion_lib.federated.data` — one :class:`ClientData` per site, federated standardisation;
- :mod:`~medfusion_lib.federated.local` — the models and a hospital's local training;
- :mod:`~medfusion_lib.federated.simulate` — the training loop written out, centralised and local-only baselines;
- :mod:`~medfusion_lib.federated.client_app`, :mod:`~medfusion_lib.federated.server_app` — the Flower app;
- :mod:`~medfusion_lib.federated.deploy` — SuperLink + SuperNodes as processes on 127.0.0.1;
- :mod:`~medfusion_lib.federated.engine` — Ray for the simulation engine, retried when a busy machine delays it;
- :mod:`~medfusion_lib.federated.cohort` — the course's federation from the cohort.

Submodules are not imported here: a hospital's ClientApp process imports only what it needs.
"""
