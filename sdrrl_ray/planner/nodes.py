"""Node types: accelerator kind, accelerators per node and on-demand price (``nodes.yaml`` beside this file)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

import yaml

from sdrrl_ray.errors import UserError

NODES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nodes.yaml")


@dataclass(frozen=True)
class NodeType:
    name: str
    device: str  # H100 | A100 | A10G | L4 | H200 | cpu
    devices: int  # accelerators per node (1 for a CPU node: the node is the unit)
    price_per_hour: float
    price_source: str  # where the price came from
    peak_tflops: Optional[float]  # dense bf16 per accelerator; None for a CPU node

    @property
    def is_gpu(self) -> bool:
        return self.device != "cpu"

    @property
    def unit(self) -> str:
        """What the hours count: GPU-hours, or node-hours on a CPU node."""
        return f"{self.device} GPU-hours" if self.is_gpu else "CPU node-hours"


def load_table(path: str = NODES_FILE) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def device_kind(name: Optional[str]) -> str:
    """'H100', 'A100', ... from a CUDA device name ('NVIDIA H100 80GB HBM3'); 'cpu' for None/'cpu'."""
    if not name or str(name).lower() == "cpu":
        return "cpu"
    for kind in load_table()["devices"]:
        if kind != "cpu" and re.search(rf"\b{kind}", str(name), re.I):
            return kind
    return str(name)


def peak_tflops(kind: str) -> Optional[float]:
    row = load_table()["devices"].get(kind)
    return None if row is None else row.get("peak_tflops")


def get_node(name: Optional[str], *, uses_gpu: bool, price_per_hour: Optional[float] = None) -> NodeType:
    """The node type ``name`` (default: the table's GPU or CPU default); ``price_per_hour`` replaces its price."""
    table = load_table()
    nodes = table["nodes"]
    name = name or table["default_gpu" if uses_gpu else "default_cpu"]
    if name not in nodes:
        raise UserError(f"node_type={name!r} is not a known node type (known: {', '.join(sorted(nodes))}); "
                        f"add it to {NODES_FILE} or pick one of these")
    row = nodes[name]
    source = f"{row['provider']} {row['region']} on-demand list price, {table['price_date']} ({NODES_FILE})"
    price = row["price_per_hour"]
    if price_per_hour is not None:
        try:
            price = float(price_per_hour)
        except (TypeError, ValueError):
            raise UserError(f"price_per_hour={price_per_hour!r} is not a number (dollars per node-hour)") from None
        if price < 0:
            raise UserError(f"price_per_hour={price} must be >= 0 (dollars per node-hour)")
        source = "price_per_hour given on the command line"
    return NodeType(name=name, device=row["device"], devices=int(row["devices"]), price_per_hour=float(price),
                    price_source=source, peak_tflops=peak_tflops(row["device"]))
