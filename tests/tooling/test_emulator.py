"""`python3 tasks.py emulator`: a moto server with the Cognito gaps filled, serving the command line end to
end; its endpoint line; a clean stop on SIGTERM and Ctrl-C; and errors from a server that answers HTML
shortened to their status and first line wherever a person reads them."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

import tasks
from backup_lambda.errors import SnapshotError, aws_error_text, shorten_html
from backup_lambda.pool_reader import PoolReader
from cognito_backup import cli
from demo.emulator import FAKE_ENV
from demo.sample_pool import build_pool

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT_LINE = re.compile(r"^AWS_ENDPOINT_URL=(http://127\.0\.0\.1:(\d+))$")
# What moto's server (werkzeug) answers for an API it does not implement, as botocore reports it.
MOTO_500_PAGE = ("<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
                 "<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable to "
                 "complete your request. Either the server is overloaded or there is an error in the "
                 "application.</p>\n")


class Emulator:
    """`python -m demo.emulator` (what `python3 tasks.py emulator` runs) as a subprocess."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "demo.emulator", *args], cwd=ROOT, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.lines: list[str] = []
        self.endpoint = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if match := ENDPOINT_LINE.match(self.lines[-1]):
                self.endpoint = match[1]
                break
        if not self.endpoint:
            self.proc.kill()
            raise AssertionError(f"no endpoint line: {self.lines} {self.proc.stderr.read()}")
        for _ in range(5):  # the rest of the banner: what to export
            self.lines.append(self.proc.stdout.readline().rstrip("\n"))

    def env(self) -> dict[str, str]:
        return {**os.environ, **FAKE_ENV, "AWS_ENDPOINT_URL": self.endpoint, "PYTHONPATH": str(ROOT)}

    def stop(self, signum: int) -> tuple[int, str, str]:
        self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


def cli_json(emulator: Emulator, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "cognito_backup", *args, "--json"], cwd=ROOT, env=emulator.env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{args[0]} exited {proc.returncode}:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_emulator_command_serves_the_command_line_end_to_end(tmp_path):
    # Given the emulator, started as `python3 tasks.py emulator` starts it, and a pool and a bucket in it
    emulator = Emulator("--port", "0")
    try:
        assert any(line.startswith("  export ") and f"AWS_ENDPOINT_URL={emulator.endpoint}" in line
                   for line in emulator.lines), emulator.lines
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",  # noqa: S106
                                region_name="us-east-1")
        cognito = session.client("cognito-idp", endpoint_url=emulator.endpoint)
        session.client("s3", endpoint_url=emulator.endpoint).create_bucket(Bucket="emulated")
        sample = build_pool(cognito, "emulated-users", users=40, unconfirmed=2)

        # When the command line snapshots, lists, verifies and restores through it
        snap = cli_json(emulator, "snapshot", "--user-pool-id", sample.pool_id, "--bucket", "emulated",
                        "--request-budget", "30")
        listed = cli_json(emulator, "list", "--bucket", "emulated")
        verified = cli_json(emulator, "verify", f"s3://emulated/{snap['key']}")
        secrets = tmp_path / "secrets.json"
        secrets.write_text(json.dumps({"CorpOIDC": {"client_secret": sample.idp_secret}}))
        restored = cli_json(emulator, "restore", f"s3://emulated/{snap['key']}", "--new-pool-name", "emulated-back",
                            "--users-via", "admin-create", "--secrets", str(secrets), "--rate-fraction", "1",
                            "--mapping-file", str(tmp_path / "mapping.json"))

        # Then each worked, the snapshot's configuration sections were all read (no gap left), and the
        # restored pool holds every user
        assert snap["users"] == len(sample.users) == 42
        assert "unavailable" not in snap["sections"].values(), snap["sections"]
        assert [s["key"] for s in listed["snapshots"] if s["complete"]] == [snap["key"]]
        assert verified["ok"] and verified["counts"]["users"] == 42
        assert restored["status"] == "ok"
        names = {u["Username"] for page in cognito.get_paginator("list_users").paginate(
            UserPoolId=restored["target_user_pool_id"]) for u in page["Users"]}
        assert len(names) == 42
    finally:
        code, out, err = emulator.stop(signal.SIGTERM)
    # and SIGTERM stops it cleanly
    assert code == 0, err
    assert out.strip().splitlines()[-1] == "emulator stopped"
    assert "Traceback" not in err


def test_ctrl_c_stops_the_emulator_cleanly():
    emulator = Emulator("--port", "0")
    code, out, err = emulator.stop(signal.SIGINT)
    assert (code, out.strip().splitlines()[-1]) == (0, "emulator stopped")
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_a_taken_port_is_refused_with_what_to_do():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "demo.emulator", "--port", str(port)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert f"error: port {port} on 127.0.0.1 is in use" in proc.stderr and "--port 0" in proc.stderr


def test_tasks_runs_the_emulator_module_with_the_given_arguments():
    python = Path("/v/bin/python")
    assert tasks.command("emulator", python, ["--port", "5001"]) == [python, "-m", "demo.emulator", "--port", "5001"]


def test_the_command_lines_help_points_to_the_emulator():
    help_text = cli.build_parser().format_help()
    assert "python3 tasks.py emulator" in " ".join(help_text.split())


# --- HTML error pages ------------------------------------------------------------------------------------

def html_client_error(operation: str = "GetUICustomization") -> ClientError:
    return ClientError({"Error": {"Code": "500", "Message": MOTO_500_PAGE},
                        "ResponseMetadata": {"HTTPStatusCode": 500}}, operation)


def test_an_html_page_is_shortened_to_its_status_and_first_line():
    assert aws_error_text(html_client_error()) == (
        "HTTP 500: 500 Internal Server Error (the server answered with an HTML page, not an AWS error)")
    untitled = "<html><body>\n\n<h1>Bad  Gateway</h1><p>nginx</p></body></html>"
    assert shorten_html("proxy said: " + untitled, 502) == (
        "proxy said: HTTP 502: Bad Gateway (the server answered with an HTML page, not an AWS error)")


@pytest.mark.parametrize("text", ["AccessDeniedException: not allowed", "a < b and c > d", "<tag> is fine"])
def test_text_that_is_not_an_html_page_is_left_alone(text):
    assert shorten_html(text) == text


def test_an_aws_error_keeps_its_code_and_message():
    error = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListUsers")
    assert aws_error_text(error) == "AccessDeniedException: no"


def test_the_engines_error_for_an_html_answer_is_one_short_line(cognito):
    # Given a Cognito endpoint that answers GetUICustomization with a 500 page
    reader = PoolReader(cognito, "us-east-1_Abc123")
    stub = Stubber(cognito)
    stub.add_client_error("get_ui_customization", service_error_code="500", service_message=MOTO_500_PAGE,
                          http_status_code=500)
    # When the snapshot's reader calls it
    with stub, pytest.raises(SnapshotError) as raised:
        reader.call("GetUICustomization", "get_ui_customization", UserPoolId="us-east-1_Abc123")
    reader.close()
    # Then the error names the call and the pool, and holds the status and the page's first line only
    assert str(raised.value) == ("GetUICustomization failed for user pool us-east-1_Abc123: HTTP 500: 500 Internal "
                                 "Server Error (the server answered with an HTML page, not an AWS error)")


def test_the_command_lines_error_line_shortens_an_html_page_and_points_to_the_emulator(monkeypatch, capsys):
    # Given a command that meets a server answering HTML, with AWS_ENDPOINT_URL set
    class Failing:
        __doc__ = "fails"

        @staticmethod
        def add_arguments(_parser):
            pass

        @staticmethod
        def run(_args):
            raise html_client_error("DescribeRiskConfiguration")

    monkeypatch.setitem(cli.COMMANDS, "failing", ("failing_module", "fails"))
    monkeypatch.setattr(cli.importlib, "import_module", lambda _name: Failing)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    # When it runs
    code = cli.main(["failing", "--json"])
    # Then the error line is short, and the JSON error the same
    out, err = capsys.readouterr()
    assert code == 2
    first, hint = err.strip().splitlines()
    assert first == ("error: An error occurred (500) when calling the DescribeRiskConfiguration operation: HTTP 500: "
                     "500 Internal Server Error (the server answered with an HTML page, not an AWS error)")
    assert "AWS_ENDPOINT_URL is http://127.0.0.1:5000" in hint and "python3 tasks.py emulator" in hint
    assert "<" not in err
    assert "<" not in json.loads(out.strip().splitlines()[-1])["error"]


@pytest.mark.slow
def test_a_snapshot_against_a_stock_moto_server_fails_with_a_short_error():
    """The issue's case, as a user meets it: a stock moto_server (no gaps filled), ~20 s of retries."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",  # noqa: S106
                                region_name="us-east-1")
        for _ in range(100):
            try:
                pool = session.client("cognito-idp", endpoint_url=endpoint).create_user_pool(PoolName="stock")
                break
            except Exception:
                time.sleep(0.1)
        session.client("s3", endpoint_url=endpoint).create_bucket(Bucket="stock")
        proc = subprocess.run([sys.executable, "-m", "cognito_backup", "snapshot", "--user-pool-id",
                               pool["UserPool"]["Id"], "--bucket", "stock", "--quiet"], cwd=ROOT, capture_output=True,
                              text=True, timeout=300,
                              env={**os.environ, **FAKE_ENV, "AWS_ENDPOINT_URL": endpoint, "PYTHONPATH": str(ROOT)})
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert proc.returncode == 2
    assert "<" not in proc.stderr and "HTTP 500: 500 Internal Server Error" in proc.stderr, proc.stderr
    assert "python3 tasks.py emulator" in proc.stderr
    assert len(proc.stderr) < 600
