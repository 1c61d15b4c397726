"""ControlAPI UpdateService: optimistic concurrency, previous spec, what may not change."""

from __future__ import annotations

import copy

import pytest

from orchestrator.api import Control, convert
from orchestrator.errors import InvalidArgument, SequenceConflict
from orchestrator.model import UpdateStatus
from orchestrator.store import MemoryStore

from .test_control import SPEC, Facts


@pytest.fixture
def control() -> Control:
    return Control(MemoryStore(), Facts())


def _edited(control: Control, ref: str = "web") -> tuple[int, dict]:
    doc = control.inspect_service(ref)
    return doc["Version"]["Index"], copy.deepcopy(doc["Spec"])


def test_update_keeps_the_previous_spec_and_clears_the_update_status(control: Control) -> None:
    svc = control.create_service(SPEC)
    control.store.update(lambda tx: tx.update(svc.evolve(update_status=UpdateStatus(state="paused", message="x"))))
    version, spec = _edited(control)
    spec["TaskTemplate"]["ContainerSpec"]["Env"] = ["A=2"]
    spec["UpdateConfig"] = {"Parallelism": 2, "Delay": 3_000_000_000, "Order": "start-first", "FailureAction": "continue"}
    new = control.update_service("web", version, spec)
    assert new.spec.task.container.env == ["A=2"] and new.previous_spec == svc.spec
    assert new.update_status is None and new.meta.version > version
    cfg = new.spec.update_config
    assert (cfg.parallelism, cfg.delay, cfg.order, cfg.failure_action) == (2, 3.0, "start-first", "continue")
    doc = control.inspect_service("web")
    assert doc["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1"]
    assert doc["Spec"]["UpdateConfig"]["Delay"] == 3_000_000_000


def test_a_stale_version_is_refused_in_one_line(control: Control) -> None:
    control.create_service(SPEC)
    version, spec = _edited(control)
    control.scale_service("web", 7)
    with pytest.raises(SequenceConflict) as err:
        control.update_service("web", version, spec)
    assert str(err.value).startswith("update out of sequence: service web changed since it was read")
    assert "\n" not in str(err.value)


def test_an_unchanged_spec_writes_nothing(control: Control) -> None:
    svc = control.create_service(SPEC)
    version, spec = _edited(control)
    assert control.update_service("web", version, spec).meta.version == svc.meta.version


def test_name_and_mode_cannot_change(control: Control) -> None:
    control.create_service(SPEC)
    version, spec = _edited(control)
    with pytest.raises(InvalidArgument, match="renaming services is not supported"):
        control.update_service("web", version, {**spec, "Name": "other"})
    with pytest.raises(InvalidArgument, match="service mode change is not allowed"):
        control.update_service("web", version, {**spec, "Mode": {"Global": {}}})


def test_inspect_shows_the_update_status_as_docker_does(control: Control) -> None:
    svc = control.create_service(SPEC)
    status = UpdateStatus(state="completed", message="update completed", started_at=10.0, completed_at=12.5)
    control.store.update(lambda tx: tx.update(svc.evolve(update_status=status)))
    doc = control.inspect_service("web")["UpdateStatus"]
    assert doc == {"State": "completed", "StartedAt": "1970-01-01T00:00:10.000000000Z",
                   "CompletedAt": "1970-01-01T00:00:12.500000000Z", "Message": "update completed"}


def test_spec_documents_round_trip_with_update_configs(control: Control) -> None:
    doc = {**SPEC, "UpdateConfig": {"Parallelism": 0, "Delay": 10**9, "FailureAction": "rollback",
                                    "Monitor": 2 * 10**9, "MaxFailureRatio": 0.5, "Order": "start-first"},
           "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353,
                                                      "PublishMode": "host"}]}}
    spec = convert.service_spec_from_doc(doc)
    assert convert.service_spec_from_doc(convert.service_spec_doc(spec)) == spec
    with pytest.raises(InvalidArgument, match="order"):
        convert.service_spec_from_doc({**SPEC, "UpdateConfig": {"Order": "sideways"}})


def test_rollback_swaps_the_specs_and_starts_a_rollback(control: Control) -> None:
    from orchestrator.errors import FailedPrecondition

    control.create_service(SPEC)
    with pytest.raises(FailedPrecondition, match="does not have a previous spec"):
        control.rollback_service("web")
    version, spec = _edited(control)
    spec["TaskTemplate"]["ContainerSpec"]["Env"] = ["A=2"]
    updated = control.update_service("web", version, spec)
    with pytest.raises(SequenceConflict):
        control.rollback_service("web", version)  # stale
    back = control.rollback_service("web", updated.meta.version)
    assert back.spec.task.container.env == ["A=1"] and back.previous_spec.task.container.env == ["A=2"]
    assert back.update_status is not None and back.update_status.state == "rollback_started"
    assert control.rollback_service("web").spec.task.container.env == ["A=2"]  # and forward again
