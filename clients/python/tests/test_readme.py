"""The README's five-line example, run as written against the real binary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import Adapter, Keys, Server

README = Path(__file__).resolve().parents[1] / "README.md"


def example() -> str:
    """The ```python block that follows the `readme-example` marker."""
    text = README.read_text()
    found = re.search(r"<!-- readme-example:[^>]*-->\s*```python\n(.*?)```", text, re.DOTALL)
    assert found, "README.md has no readme-example block"
    return found.group(1)


def run(server: Server, key: str, cookie_header: str) -> str:
    env = {**os.environ, "AUTHBRIDGE_URL": server.url, "AUTHBRIDGE_SESSION_READ_KEY": key, "HTTP_COOKIE": cookie_header}
    done = subprocess.run([sys.executable, "-c", example()], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_example_is_five_lines() -> None:
    lines = [line for line in example().splitlines() if line.strip()]
    assert len(lines) == 5, lines


def test_the_readme_example_runs(server: Server, keys: Keys, adapter: Adapter) -> None:
    user = adapter.create_user()
    created = adapter.create_session(user["id"])
    signed_in = run(server, keys.reader, f"theme=dark; __Secure-authjs.session-token={created['sessionToken']}")
    assert re.fullmatch(rf"signed in as {re.escape(user['id'])} until \d{{4}}-\d\d-\d\d \d\d:\d\d UTC", signed_in), (
        signed_in
    )
    assert run(server, keys.reader, "theme=dark") == "signed out"
    adapter.call("deleteSession", {"sessionToken": created["sessionToken"]})
    assert run(server, keys.reader, f"authjs.session-token={created['sessionToken']}") == "signed out"
