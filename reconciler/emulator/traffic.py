"""The seam through which deployments move load balancer traffic.

ELBv2 lives in moto; the ECS and CodeDeploy backends shift weights through this
protocol, which ``moto_bridge.MotoTraffic`` implements against moto's in-process
ELBv2 backend. Weights are ELBv2's integers (0..999) per target group ARN.
"""

from __future__ import annotations

from typing import Protocol


class TrafficError(LookupError):
    """A listener, rule or target group that ELBv2 does not know."""


class Traffic(Protocol):
    def rule_weights(self, region: str, rule_arn: str) -> dict[str, int]:
        """Target group ARN -> weight of the rule's forward action."""
        ...

    def set_rule_weights(self, region: str, rule_arn: str, weights: dict[str, int]) -> None: ...

    def listener_weights(self, region: str, listener_arn: str) -> dict[str, int]:
        """Target group ARN -> weight of the listener's default forward action."""
        ...

    def set_listener_weights(
        self, region: str, listener_arn: str, weights: dict[str, int]
    ) -> None: ...

    def target_group_arn(self, region: str, name: str) -> str:
        """The ARN of the target group called ``name``."""
        ...


def split_weights(blue: str, green: str, green_percent: float) -> dict[str, int]:
    """Weights that send ``green_percent`` of the traffic to ``green``, the rest to ``blue``."""
    green_weight = round(max(0.0, min(100.0, green_percent)))
    if blue == green:
        return {green: 1}
    return {blue: 100 - green_weight, green: green_weight}


def green_percent(weights: dict[str, int], green: str) -> float:
    """The share of traffic, in percent, that ``weights`` send to ``green``."""
    total = sum(weights.values())
    return 100.0 * weights.get(green, 0) / total if total else 0.0
