"""Commands pay only for what they use (issue 24.4): reading the settings and building the
command line import none of the HTTP clients, the web server, the crypto, the video store's
client or a database driver beyond sqlite3. Checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

# The top-level packages loaded (a module marked absent in sys.modules is not loaded).
LOADED = """
import sys
def loaded():
    return sorted({name.split(".")[0] for name, module in sys.modules.items() if module})
"""
HEAVY = ("aiohttp", "httpx", "cryptography", "obstore", "asyncpg", "sqlite_utils",
         "prometheus_client", "jinja2", "aiosmtplib", "standardwebhooks")
PROBE = LOADED + """
import base64, json, os, sys
from receiver.cli.commands import build_parser
from receiver.settings import from_environ
build_parser()
key = base64.urlsafe_b64encode(os.urandom(32)).decode()
from_environ({"REELHOOK_API_TOKEN": "t" * 32, "REELHOOK_DATABASE": sys.argv[1],
              "REELHOOK_SECRET_KEY": key})
print(json.dumps(loaded()))
"""


def test_settings_and_the_command_line_load_no_heavy_library(tmp_path: object) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, f"{tmp_path}/reelhook.db"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    loaded = set(json.loads(done.stdout))
    assert "receiver" in loaded and "store" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


TICK = LOADED + """
import json, sys
from receiver.cli import main
code = main(["tick"])
print(json.dumps([code, loaded()]))
"""


def test_an_idle_tick_asks_the_store_and_builds_no_sender(tmp_path: object) -> None:
    key = subprocess.run([sys.executable, "-m", "receiver", "keygen"], capture_output=True,
                         text=True, check=True).stdout.strip()
    env = {"REELHOOK_DATABASE": f"{tmp_path}/reelhook.db", "REELHOOK_SECRET_KEY": key,
           "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "receiver", "migrate"], env=env, check=True,
                   capture_output=True, timeout=60)
    done = subprocess.run([sys.executable, "-c", TICK], env=env, capture_output=True, text=True,
                          check=True, timeout=60)
    report, modules = done.stdout.strip().splitlines()
    code, loaded = json.loads(modules)
    assert code == 0
    assert report == ("interrupted sends failed: 0, held submissions: 0, tasks polled: 0,"
                      " videos copied: 0, notices due: 0, old rows deleted: 0, counts folded: 0")
    assert set(loaded).isdisjoint(HEAVY), sorted(set(loaded) & set(HEAVY))


SERVE_IMPORTS = LOADED + """
import json, sys
import receiver.app, receiver.serving
import httpx
print(json.dumps([callable(httpx.main), loaded()]))
"""


def test_serve_loads_httpx_without_its_command_line() -> None:
    """httpx imports click, rich and pygments for a command line serve never runs; the test
    environment has all three installed, so each would show here."""
    done = subprocess.run([sys.executable, "-c", SERVE_IMPORTS], capture_output=True, text=True,
                          check=True, timeout=60)
    has_main, loaded = json.loads(done.stdout)
    assert has_main and {"httpx", "aiohttp"} <= set(loaded)
    assert set(loaded).isdisjoint({"click", "rich", "pygments"}), loaded


STARTED_APP = LOADED + """
import asyncio, json, os, sys
from aiohttp import web
from receiver.app import create_app
from receiver.settings import from_environ

async def started() -> list[str]:
    settings = from_environ(os.environ)
    assert settings.videos.kept(settings.database)
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    try:
        return loaded()
    finally:
        await runner.cleanup()

print(json.dumps(asyncio.run(started())))
"""


def test_a_started_app_loads_its_outgoing_clients_only_when_used(tmp_path: object) -> None:
    """Videos are kept (in a folder, by default) and email may be configured, yet a starting
    process imports neither obstore nor aiosmtplib (the first kept video and the first email
    do), nor httpx with httpcore and anyio (the first call to a provider or download does)."""
    key = subprocess.run([sys.executable, "-m", "receiver", "keygen"], capture_output=True,
                         text=True, check=True).stdout.strip()
    env = {"REELHOOK_DATABASE": f"{tmp_path}/reelhook.db", "REELHOOK_SECRET_KEY": key,
           "REELHOOK_API_TOKEN": "t" * 32, "REELHOOK_SMTP_URL": "smtp://127.0.0.1:2525",
           "REELHOOK_EMAIL_FROM": "reelhook@example.com", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", STARTED_APP], env=env, capture_output=True,
                          text=True, check=True, timeout=60)
    loaded = set(json.loads(done.stdout))
    assert {"aiohttp", "receiver", "dispatcher", "store"} <= loaded
    assert loaded.isdisjoint({"obstore", "aiosmtplib", "httpx", "httpcore", "anyio"}), sorted(
        loaded)
