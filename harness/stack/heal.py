"""Undo every fault of the audit on a running environment: ``chaos-audit heal --target FILE``.

Why a command: a run that is SIGKILLed (a CI timeout, an OOM kill) cannot heal what it injected
into a stack it does not own; a persistent proxy keeps its toxics and a paused worker stays
frozen. ``heal`` needs nothing of the dead run but the target file and its journal: it removes
every toxic of the file's links (journaled or not), re-enables them, resumes the services the
journal says were paused, starts those it says were killed or held down, resets the provider's
rules and barriers, then clears the journal. It also reaps what the dead run itself left on this
machine (its proxy and provider processes, its scratch folders). Exit 0 when all of it worked, 3 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable

from harness.faults.provider.client import ProviderClient
from harness.faults.proxy.client import ProxyClient
from harness.process.pidfiles import PidFiles
from harness.process.scratch import ScratchDir
from harness.stack.handles import handle_for
from harness.stack.journal import Journal
from harness.target.model import Target


def heal_links(proxy: ProxyClient, target: Target) -> list[str]:
    """Remove every toxic of the file's links on ``proxy`` and enable them; errors, not raises."""
    errors: list[str] = []
    try:
        existing = proxy.proxies()
    except Exception as exc:
        return [f"proxy at {proxy.url}: {exc}"]
    for name in target.links:
        if name not in existing:
            continue
        try:
            for toxic in proxy.toxics(name):
                proxy.remove_toxic(name, toxic.name)
            proxy.enable(name)
        except Exception as exc:
            errors.append(f"link {name}: {exc}")
    return errors


def heal_provider(provider: ProviderClient) -> list[str]:
    """Clear the provider's rules and release its barriers (its ledger goes too: it is per scenario)."""
    try:
        provider.reset()
    except Exception as exc:
        return [f"provider at {provider.base_url}: {exc}"]
    return []


def heal_target(target: Target, journal: Journal, *, say: object = print) -> list[str]:
    """Heal from the journal and the file; returns the errors (empty: everything healed)."""
    out = say if callable(say) else print
    data = journal.read()
    errors: list[str] = []
    proxy_urls = {u for u in (data.get("proxy_url"), _attached(target, "proxy")) if u}
    for url in sorted(proxy_urls):
        with ProxyClient(url) as proxy:
            link_errors = heal_links(proxy, target)
        errors += link_errors
        out(
            f"proxy {url}: toxics removed, links enabled"
            if not link_errors
            else f"proxy {url}: {link_errors}"
        )
    errors += _heal_services(target, journal, out)
    provider_urls = {u for u in (data.get("provider_url"), _attached(target, "provider")) if u}
    for url in sorted(provider_urls):
        with contextlib.closing(ProviderClient(url)) as provider:
            provider_errors = heal_provider(provider)
        errors += provider_errors
        out(f"provider {url}: reset" if not provider_errors else f"provider {url}: {provider_errors}")
    if not errors:
        journal.clear()
    return errors


def _heal_services(target: Target, journal: Journal, out: Callable[[str], object]) -> list[str]:
    """Resume the journaled paused services, start the killed or held ones; errors, not raises."""
    errors: list[str] = []
    scratch = ScratchDir("chaos-audit-heal-")  # a container handle saves its log there
    try:
        for entry in journal.entries("paused", "killed", "held"):
            name = str(entry.get("service"))
            spec = target.services.get(name)
            if spec is None or spec.fault_handle is None:
                errors.append(f"{name}: journaled as {entry['kind']} but the file gives no handle")
                continue
            handle = handle_for(name, spec.fault_handle, log_dir=scratch.path)
            try:
                if entry["kind"] == "paused" or entry.get("how") == "paused":
                    handle.resume()
                    out(f"service {name}: resumed")
                else:
                    if not handle.running:
                        handle.start()
                    out(f"service {name}: started")
                journal.remove(str(entry["kind"]), service=name)
            except Exception as exc:
                errors.append(f"{name}: {exc}")
    finally:
        scratch.close()
    return errors


def _attached(target: Target, role: str) -> str | None:
    for name in target.services_with_role(role):  # type: ignore[arg-type]
        spec = target.services[name]
        if spec.attach and spec.url:
            return spec.url.rstrip("/")
    return None


# -- the command ------------------------------------------------------------------------------------
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, help="the target file whose environment to heal")


def main(args: argparse.Namespace) -> int:
    from harness.target.load import load_target

    target, path = load_target(args.target)  # ConfigError: exit 2 naming the field
    journal = Journal.for_target(target.name)
    print(f"chaos-audit heal: {target.name} ({path}); journal {journal.path}")
    for line in PidFiles.default().reap_stale():  # the killed run's own processes and folders
        print(f"chaos-audit heal: {line}")
    errors = heal_target(target, journal)
    for error in errors:
        print(f"chaos-audit heal: error: {error}")
    if errors:
        print(f"chaos-audit heal: {len(errors)} thing(s) could not be healed; the journal is kept")
        return 3
    print("chaos-audit heal: done; nothing of the audit is left injected")
    return 0
