#!/usr/bin/env python3
"""Drives every call of the official Python client (`vexa-client` 0.5.4, unchanged) against a
running vexa stack whose bots are the mock bot (`BOT_COMMAND="vexa mock-bot"`), and checks what
comes back. Exit 0 when every call behaved; exit 1 with a `FAIL: ...` line otherwise.

Two setups (CONTRACT §7):

  --mode two    one client object on the admin URL (admin calls) and one on the gateway URL
                (user calls); the gateway must NOT proxy /admin/* (GATEWAY_ADMIN_PROXY unset).
  --mode proxy  one client object on the gateway URL for everything; the stack runs with
                GATEWAY_ADMIN_PROXY=true.

The admin token comes from the environment (VEXA_ADMIN_TOKEN), never from the command line.
Keys are never printed.

    VEXA_ADMIN_TOKEN=... python drive_client.py --mode two \
        --gateway http://127.0.0.1:18056 --admin http://127.0.0.1:18057
"""

import argparse
import http.server
import json
import os
import sys
import threading
import time

import requests
from vexa_client import VexaClient, VexaClientError

PLATFORM = "google_meet"
NATIVE = "abc-defg-hij"
WAIT_S = 20.0
# A fast bot may already have reported progress when the POST /bots answer is built.
LIVE = ("requested", "joining", "awaiting_admission", "active")


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def step(msg):
    print(f"ok: {msg}", flush=True)


def expect_error(fn, status, detail, what):
    """Runs `fn`, which must fail with HTTP `status` whose detail contains `detail`."""
    try:
        got = fn()
    except VexaClientError as e:
        text = str(e)
        check(f"HTTP Error {status} " in text, f"{what}: expected HTTP {status}, got: {text}")
        check(detail in text, f"{what}: expected detail {detail!r}, got: {text}")
        return
    raise Failure(f"{what}: expected HTTP {status}, but the call succeeded: {got!r}")


def wait_for(what, probe, timeout=WAIT_S):
    """Polls `probe()` until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise Failure(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class Hooks:
    """A loopback HTTP server that records webhook deliveries."""

    def __init__(self):
        self.received = []
        hooks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                try:
                    hooks.received.append(json.loads(body))
                except ValueError:
                    hooks.received.append({"unparsable": body.decode("utf-8", "replace")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/vexa-hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self):
        return [h.get("event_type") or h.get("event") or h.get("type") for h in self.received]

    def close(self):
        self.server.shutdown()


def meeting_status(user, meeting_id):
    for m in user.get_meetings():
        if m.get("id") == meeting_id:
            return m
    raise Failure(f"meeting {meeting_id} is missing from GET /meetings")


def wait_status(user, meeting_id, status):
    return wait_for(
        f"meeting {meeting_id} to be {status}",
        lambda: (lambda m: m if m.get("status") == status else None)(meeting_status(user, meeting_id)),
    )


def run(mode, gateway, admin_url, admin_token):
    email = f"py-client-{mode}@acme.example"

    if mode == "two":
        admin = VexaClient(base_url=admin_url, admin_key=admin_token)
        user = VexaClient(base_url=gateway)
        admin_base = admin_url
        # Without GATEWAY_ADMIN_PROXY the gateway does not serve /admin/*.
        on_gateway = VexaClient(base_url=gateway, admin_key=admin_token)
        expect_error(lambda: on_gateway.list_users(), 404, "Not Found",
                     "admin call on the gateway without GATEWAY_ADMIN_PROXY")
        step("gateway without GATEWAY_ADMIN_PROXY answers 404 on /admin/*")
    else:
        admin = user = VexaClient(base_url=gateway, admin_key=admin_token)
        admin_base = gateway

    # The admin API still checks the admin token (also behind the proxy).
    wrong = VexaClient(base_url=admin_base, admin_key="not-the-admin-token")
    expect_error(lambda: wrong.create_user(email), 403, "Invalid or missing admin token.",
                 "create_user with a wrong admin token")
    step("wrong admin token -> 403")

    # --- admin: users ---
    created = admin.create_user_and_set_id(
        email, name="Py Client", image_url="https://img.example/p.png", max_concurrent_bots=2)
    uid = created.get("id")
    check(isinstance(uid, int), f"create_user: no integer id in {created!r}")
    check(admin.user_id == uid, "create_user_and_set_id did not set user_id")
    check(created.get("email") == email and created.get("name") == "Py Client"
          and created.get("image_url") == "https://img.example/p.png"
          and created.get("max_concurrent_bots") == 2 and created.get("data") == {},
          f"create_user: unexpected user {created!r}")
    step(f"create_user -> id {uid}")

    again = admin.create_user(email.upper(), name="Someone Else")
    check(again.get("id") == uid and again.get("name") == "Py Client",
          f"create_user with an existing email (other case) must return the stored row: {again!r}")
    step("create_user with an existing email returns the stored user unchanged")

    found = admin.get_user_by_email(email)
    check(found.get("id") == uid, f"get_user_by_email: {found!r}")
    expect_error(lambda: admin.get_user_by_email("nobody@acme.example"), 404, "User not found",
                 "get_user_by_email for an unknown email")
    step("get_user_by_email")

    users = admin.list_users()
    check(isinstance(users, list), f"list_users must return a list, got {type(users).__name__}")
    check(any(u.get("id") == uid for u in users), f"list_users: user {uid} missing")
    ids = [u.get("id") for u in users]
    check(ids == sorted(ids), f"list_users: not oldest first: {ids}")
    one = admin.list_users(skip=0, limit=1)
    check(isinstance(one, list) and len(one) == 1, f"list_users(limit=1): {one!r}")
    rest = admin.list_users(skip=len(users), limit=10)
    check(rest == [], f"list_users past the end must be empty: {rest!r}")
    step(f"list_users ({len(users)} users, paging)")

    updated = admin.update_user(uid, name="Py Client 2", image_url="https://img.example/q.png",
                                max_concurrent_bots=3)
    check(updated.get("name") == "Py Client 2" and updated.get("max_concurrent_bots") == 3
          and updated.get("image_url") == "https://img.example/q.png",
          f"update_user: {updated!r}")
    check(admin.get_user_by_email(email).get("name") == "Py Client 2", "update_user did not persist")
    step("update_user")

    # --- admin: keys. The client mints with no body: the key gets ["bot"]. ---
    minted = admin.create_token()
    bot_key = minted.get("token")
    check(isinstance(bot_key, str) and bot_key.startswith("vxa_bot_"),
          "create_token: no vxa_bot_ token in the response")
    check(minted.get("user_id") == uid and minted.get("scopes") == ["bot"]
          and isinstance(minted.get("id"), int),
          f"create_token: unexpected fields {dict((k, v) for k, v in minted.items() if k != 'token')}")
    explicit = admin.create_token(user_id=uid)
    check(explicit.get("token") not in (None, bot_key), "create_token(user_id=...) must mint a new key")
    expect_error(lambda: admin.create_token(user_id=987654321), 404, "User not found",
                 "create_token for an unknown user")
    step("create_token (empty body) -> bot key")

    # A bot+tx key for the meeting-data calls (the client has no scopes parameter; an operator
    # mints it with `make provision-token`, `vexa token mint` or the admin API like this).
    r = requests.post(f"{admin_base}/admin/users/{uid}/tokens",
                      headers={"X-Admin-API-Key": admin_token}, json={"scopes": ["bot", "tx"]},
                      timeout=10)
    check(r.status_code == 201, f"minting a bot,tx key: HTTP {r.status_code} {r.text[:200]}")
    full_key = r.json()["token"]

    # --- user calls with the client-minted bot key ---
    user.set_api_key(bot_key)

    hooks = Hooks()
    try:
        hook = user.set_webhook_url(hooks.url)
        # The answer is the user record, as 0.12's identity service gives it: the settings in
        # `data`, the secret left out.
        check((hook.get("data") or {}).get("webhook_url") == hooks.url
              and "webhook_secret" not in (hook.get("data") or {}), f"set_webhook_url: {hook!r}")
        step("set_webhook_url")

        expect_error(lambda: user.update_bot_config(PLATFORM, NATIVE, language="fr"), 404, "",
                     "update_bot_config with no live bot")
        step("update_bot_config with no live bot -> 404")

        m1 = user.request_bot(PLATFORM, NATIVE, bot_name="Py Notetaker", language="en",
                              task="transcribe")
        id1 = m1.get("id")
        check((m1.get("data") or {}).get("webhook_url") == hooks.url,
              f"a meeting requested after set_webhook_url carries data.webhook_url: {m1!r}")
        check(isinstance(id1, int) and m1.get("platform") == PLATFORM
              and m1.get("native_meeting_id") == NATIVE and m1.get("status") in LIVE,
              f"request_bot: {m1!r}")
        check(bot_key not in json.dumps(m1), "request_bot echoed the API key")
        step(f"request_bot -> meeting {id1}")

        expect_error(lambda: user.request_bot(PLATFORM, NATIVE), 409, "",
                     "a second bot on the same meeting")
        step("request_bot again on a live meeting -> 409")

        running = user.get_running_bots_status()
        check(isinstance(running, list) and any(b.get("id") == id1 for b in running),
              f"get_running_bots_status: meeting {id1} not in {running!r}")
        step("get_running_bots_status (running_bots)")

        wait_status(user, id1, "active")
        step("bot is active")

        by_id = user.get_meeting_by_id(PLATFORM, NATIVE)
        check(by_id is not None and by_id.get("id") == id1 and isinstance(by_id.get("data"), dict),
              f"get_meeting_by_id: {by_id!r}")
        step("get_meetings / get_meeting_by_id")

        ack = user.update_bot_config(PLATFORM, NATIVE, language="fr", task="translate")
        check(isinstance(ack, dict) and isinstance(ack.get("message"), str) and ack["message"],
              f"update_bot_config: {ack!r}")
        step("update_bot_config -> 202 with a message")

        def french():
            t = user.get_transcript(PLATFORM, NATIVE)
            segs = t.get("segments") or []
            return t if any(s.get("language") == "fr" for s in segs) else None

        tr = wait_for("a transcript segment in the new language 'fr'", french)
        check(tr.get("id") == id1, f"get_transcript (latest) returned meeting {tr.get('id')}, not {id1}")
        step(f"get_transcript: {len(tr['segments'])} segments, new language reached the bot")

        expect_error(lambda: user.update_meeting_data(PLATFORM, NATIVE, name="x"), 403,
                     "Token scope not authorized", "update_meeting_data with a bot-only key")
        expect_error(lambda: user.delete_meeting(PLATFORM, NATIVE), 403,
                     "Token scope not authorized", "delete_meeting with a bot-only key")
        step("meeting data edits need the tx scope -> 403 with a bot-only key")

        # --- the same client with a bot+tx key ---
        user.set_api_key(full_key)
        edited = user.update_meeting_data(PLATFORM, NATIVE, name="Weekly sync",
                                          participants=["Alice", "Bob"], languages=["en", "fr"])
        data = edited.get("data") or {}
        check(data.get("name") == "Weekly sync" and data.get("participants") == ["Alice", "Bob"]
              and data.get("languages") == ["en", "fr"], f"update_meeting_data: {edited!r}")
        edited = user.update_meeting_data(PLATFORM, NATIVE, notes="Roadmap review")
        data = edited.get("data") or {}
        check(data.get("notes") == "Roadmap review" and data.get("name") == "Weekly sync",
              f"update_meeting_data must merge, not replace: {data!r}")
        listed = user.get_meeting_by_id(PLATFORM, NATIVE) or {}
        check(VexaClient.get_meeting_metadata(listed).get("name") == "Weekly sync"
              and VexaClient.get_meeting_participants(listed) == ["Alice", "Bob"]
              and VexaClient.get_meeting_languages(listed) == ["en", "fr"],
              f"meeting data not visible in get_meetings: {listed!r}")
        step("update_meeting_data on a live meeting (merged, visible in get_meetings)")

        stopped = user.stop_bot(PLATFORM, NATIVE)
        check(isinstance(stopped, dict), f"stop_bot: {stopped!r}")
        step(f"stop_bot -> {stopped.get('status') or stopped.get('message')}")
        wait_status(user, id1, "completed")
        step("meeting completed")
        wait_for("the meeting.completed webhook",
                 lambda: "meeting.completed" in hooks.events() or None)
        step("webhook meeting.completed delivered to the URL set with set_webhook_url")
        wait_for("no running bots",
                 lambda: not any(b.get("id") == id1 for b in user.get_running_bots_status()))
        step("get_running_bots_status is empty after the stop")

        expect_error(lambda: user.update_bot_config(PLATFORM, NATIVE, task="transcribe"), 404, "",
                     "update_bot_config after the bot left")

        # Completed meetings keep their metadata editable.
        done = user.update_meeting_data(PLATFORM, NATIVE, notes="Done")
        check((done.get("data") or {}).get("notes") == "Done"
              and (done.get("data") or {}).get("name") == "Weekly sync",
              f"update_meeting_data on a completed meeting: {done!r}")
        step("update_meeting_data on a completed meeting")

        # A second meeting on the same link: "latest" moves; ?meeting_id= still reaches the first.
        m2 = user.request_bot_from_url(f"https://meet.google.com/{NATIVE}", bot_name="Py Notetaker",
                                       language="en")
        id2 = m2.get("id")
        check(isinstance(id2, int) and id2 != id1 and m2.get("native_meeting_id") == NATIVE,
              f"request_bot_from_url: {m2!r}")
        wait_status(user, id2, "active")
        wait_for("segments in the second meeting",
                 lambda: user.get_transcript(PLATFORM, NATIVE).get("segments"))
        latest = user.get_transcript(PLATFORM, NATIVE)
        check(latest.get("id") == id2, f"get_transcript latest: meeting {latest.get('id')}, not {id2}")
        first = user.get_transcript(PLATFORM, NATIVE, meeting_id=id1)
        check(first.get("id") == id1 and any(s.get("language") == "fr" for s in first.get("segments") or []),
              f"get_transcript(meeting_id={id1}) returned meeting {first.get('id')}")
        expect_error(lambda: user.get_transcript(PLATFORM, NATIVE, meeting_id=id2 + 1000), 404, "",
                     "get_transcript with an unknown meeting_id")
        step(f"get_transcript latest -> {id2}, meeting_id={id1} -> {id1}")

        user.stop_bot(PLATFORM, NATIVE)
        wait_status(user, id2, "completed")

        gone = user.delete_meeting(PLATFORM, NATIVE)
        check(isinstance(gone, dict) and gone.get("id") == id2, f"delete_meeting: {gone!r}")
        expect_error(lambda: user.get_transcript(PLATFORM, NATIVE), 404, "",
                     "get_transcript of the deleted meeting")
        kept = user.get_transcript(PLATFORM, NATIVE, meeting_id=id1)
        check(kept.get("id") == id1 and kept.get("segments"),
              "delete_meeting must only erase the latest meeting")
        step("delete_meeting erases the latest meeting's transcript")
    finally:
        hooks.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["two", "proxy"], required=True)
    ap.add_argument("--gateway", required=True, help="gateway base URL")
    ap.add_argument("--admin", help="admin API base URL (mode two)")
    args = ap.parse_args()
    token = os.environ.get("VEXA_ADMIN_TOKEN", "")
    if not token:
        print("FAIL: VEXA_ADMIN_TOKEN is not set", file=sys.stderr)
        return 2
    if args.mode == "two" and not args.admin:
        print("FAIL: --admin is required with --mode two", file=sys.stderr)
        return 2
    try:
        run(args.mode, args.gateway.rstrip("/"), (args.admin or "").rstrip("/"), token)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    except VexaClientError as e:
        print(f"FAIL: unexpected client error: {e}", file=sys.stderr)
        return 1
    except requests.RequestException as e:
        print(f"FAIL: request error: {e}", file=sys.stderr)
        return 1
    print(f"all vexa-client calls passed ({args.mode})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
