"""The hospital's side of Flower: a ``ClientApp`` that trains and evaluates on the site's own data only.

Messages (Flower's Message API): the server sends ``content["arrays"]`` (an ``ArrayRecord``, the global
model) and ``content["config"]`` (a ``ConfigRecord``: ``kind``, ``local-epochs``, ``lr``, ``batch-size``,
``server-round``, and ``proximal-mu`` when the strategy is FedProx). ``train`` replies with the locally
trained ``ArrayRecord`` and a ``MetricRecord`` whose ``num-examples`` is what FedAvg weights by;
``evaluate`` replies with the site's test macro-F1.

Where the data come from (``load_partition``):

- a real deployment starts each SuperNode with ``--node-config 'data-path="/…/Northgate.npz"'``: the node
  reads that one file and nothing else;
- Flower's simulation engine gives every virtual node ``partition-id``; the app then reads
  ``<data-dir>/client-<partition-id>.npz`` (``data-dir`` from the run config, or from :func:`make_client_app`).
"""
from __future__ import annotations

from pathlib import Path

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from medfusion_lib.federated.data import ClientData
from medfusion_lib.federated.local import evaluate as evaluate_net
from medfusion_lib.federated.local import local_train, make_net


def load_partition(context: Context, data_dir: str | None = None, split: str = "train") -> ClientData:
    """This node's :class:`ClientData` (``split`` "train" or "test"), located as the module docstring says."""
    node = context.node_config
    if "data-path" in node:
        path = Path(str(node["data-path"]))
        return ClientData.load(path if split == "train" else path.with_name(path.stem + "-test.npz"))
    data_dir = data_dir or context.run_config.get("data-dir")
    if not data_dir or "partition-id" not in node:
        raise RuntimeError("this SuperNode has no data: start it with --node-config 'data-path=\"...npz\"' "
                           "(deployment) or give the run config a data-dir (simulation)")
    suffix = "" if split == "train" else "-test"
    return ClientData.load(Path(str(data_dir)) / f"client-{int(node['partition-id'])}{suffix}.npz")


def site_index(context: Context) -> int:
    """Which site this node is: ``partition-id`` (simulation) or ``site-index`` (deployment node config)."""
    node = context.node_config
    return int(node.get("partition-id", node.get("site-index", -1)))


def _net_for(msg: Message, data: ClientData):
    config = msg.content["config"]
    net = make_net(str(config["kind"]), data.widths, int(config["n-classes"]))
    net.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    return net, config


def train_step(msg: Message, context: Context, data_dir: str | None = None) -> Message:
    """Local training on this hospital's patients; replies with the new weights and ``num-examples``."""
    data = load_partition(context, data_dir)
    net, config = _net_for(msg, data)
    mu = float(config.get("proximal-mu", 0.0))  # FedProx puts its mu here; FedAvg sends none
    seed = int(config.get("seed", 0)) * 1000 + int(config["server-round"]) * 10 + site_index(context)
    loss = local_train(net, data, int(config["local-epochs"]), float(config["lr"]), int(config["batch-size"]),
                       mu, seed=seed)
    content = RecordDict({"arrays": ArrayRecord(net.state_dict()),
                          "metrics": MetricRecord({"train-loss": loss, "num-examples": len(data)})})
    return Message(content=content, reply_to=msg)


def evaluate_step(msg: Message, context: Context, data_dir: str | None = None) -> Message:
    """The global model's macro-F1 on this hospital's own test patients."""
    data = load_partition(context, data_dir, split="test")
    net, _ = _net_for(msg, data)
    scores = evaluate_net(net, data)
    content = RecordDict({"metrics": MetricRecord({"macro-f1": scores["macro_f1"], "loss": scores["loss"],
                                                   "num-examples": scores["n"],
                                                   "site-index": site_index(context)})})
    return Message(content=content, reply_to=msg)


def make_client_app(data_dir: str | None = None) -> ClientApp:
    """A ``ClientApp`` running :func:`train_step` / :func:`evaluate_step` (``data_dir`` for simulation)."""
    client = ClientApp()

    @client.train()
    def train(msg: Message, context: Context) -> Message:
        return train_step(msg, context, data_dir)

    @client.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        return evaluate_step(msg, context, data_dir)

    return client


#: What ``flwr run`` starts on each SuperNode (``[tool.flwr.app.components] clientapp``).
app = make_client_app()
