"""contrib/: the cron file and the systemd units run the command the README documents, and stay consistent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"
COMMAND = "manage.py import_pxe_files -v0"


def unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's settings, "Section.Key" to values in order (keys may repeat; comments dropped)."""
    values: dict[str, list[str]] = {}
    section = ""
    for line in (CONTRIB / "systemd" / name).read_text().splitlines():
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            values.setdefault(f"{section}.{key}", []).append(value)
    return values


def test_the_cron_file_is_one_cron_will_read():
    path = CONTRIB / "cron.d" / "pxeimport"
    text = path.read_text()
    # cron ignores a file in /etc/cron.d whose name has a dot, and a last line with no newline.
    assert "." not in path.name and text.endswith("\n")
    nightly, weekly = [line for line in text.splitlines() if re.match(r"^[0-9*]", line)]
    minute, hour, dom, month, dow, user, command = nightly.split(None, 6)
    assert (dom, month, dow) == ("*", "*", "*") and 0 <= int(minute) < 60 and 0 <= int(hour) < 24
    assert user and command.endswith(COMMAND)
    minute, hour, dom, month, dow, user, command = weekly.split(None, 6)
    assert (dom, month, dow) == ("*", "*", "0") and command.endswith(COMMAND + " --verify")


def test_the_service_runs_the_import_quietly_and_counts_a_held_lock_as_success():
    service = unit("pxeimport-import.service")
    assert service["Service.Type"] == ["oneshot"]
    assert service["Service.ExecStart"][0].endswith(COMMAND)
    assert "75" in service["Service.SuccessExitStatus"][0].split()
    assert "75" in service["Service.RestartPreventExitStatus"][0].split()


def environment() -> dict[str, str]:
    """contrib/default/pxeimport's assignments: the one environment file every unit reads."""
    text = (CONTRIB / "default" / "pxeimport").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize("name", ["pxeimport-import.service", "pxeimport-web.service"])
def test_the_services_may_write_only_the_tftp_root_the_http_root_and_their_state(name):
    service, env = unit(name), environment()
    assert service["Service.ProtectSystem"] == ["strict"]
    assert service["Service.EnvironmentFile"] == ["/etc/default/pxeimport"]
    wanted = [env["PXEIMPORT_TFTPROOT"], env["PXEIMPORT_HTTP_ROOT"], env["PXEIMPORT_VAR_DIR"]]
    assert sorted(service["Service.ReadWritePaths"][0].split()) == sorted(wanted)
    for hardening in ("PrivateTmp", "NoNewPrivileges", "ProtectHome", "PrivateDevices"):
        assert service[f"Service.{hardening}"] == ["yes"], hardening


def test_every_unit_runs_as_the_service_user_with_the_one_environment_file():
    for path in sorted((CONTRIB / "systemd").glob("*.service")):
        service = unit(path.name)
        assert service["Service.User"] == ["pxeimport"], path.name
        assert service["Service.EnvironmentFile"] == ["/etc/default/pxeimport"], path.name
        assert "Service.Environment" not in service, path.name  # every setting in the one file


def test_the_timer_starts_the_service_nightly_with_a_random_delay_and_catches_up():
    timer = unit("pxeimport-import.timer")
    assert timer["Timer.Unit"] == ["pxeimport-import.service"]
    assert timer["Timer.Persistent"] == ["true"]
    assert timer["Timer.RandomizedDelaySec"] and timer["Timer.OnCalendar"]
    assert timer["Install.WantedBy"] == ["timers.target"]


def test_a_weekly_timer_verifies_every_served_file_with_the_same_confinement():
    verify, nightly = unit("pxeimport-verify.service"), unit("pxeimport-import.service")
    assert verify["Service.ExecStart"][0].endswith(COMMAND + " --verify")
    for key in ("User", "WorkingDirectory", "EnvironmentFile", "ReadWritePaths", "ProtectSystem", "NoNewPrivileges"):
        assert verify[f"Service.{key}"] == nightly[f"Service.{key}"], key
    timer = unit("pxeimport-verify.timer")
    assert timer["Timer.Unit"] == ["pxeimport-verify.service"]
    assert timer["Timer.OnCalendar"][0].startswith("Sun ")


def test_a_rack_without_a_broker_syncs_from_a_timer_with_the_imports_confinement():
    sync, nightly = unit("pxeimport-rack-sync.service"), unit("pxeimport-import.service")
    [command] = sync["Service.ExecStart"]
    assert "manage.py converge_rack -v0 " in command and "--region ${REGION_URL}" in command
    for key in ("User", "WorkingDirectory", "ReadWritePaths", "ProtectSystem", "NoNewPrivileges", "SystemCallFilter"):
        assert sync[f"Service.{key}"] == nightly[f"Service.{key}"], key
    timer = unit("pxeimport-rack-sync.timer")
    assert timer["Timer.OnUnitActiveSec"] and timer["Timer.Persistent"] == ["true"]
    assert timer["Install.WantedBy"] == ["timers.target"]
