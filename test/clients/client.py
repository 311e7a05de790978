#!/usr/bin/python3
"""A scriptable slixmpp client for the end-to-end tests.

Usage: client.py JID PASSWORD PORT [--no-sm] [--no-presence]
Reads JSON commands from stdin, one per line, and writes JSON events to stdout, one per line.
Commands:
  {"cmd": "raw", "xml": "<iq .../>"}        send raw XML (replies come back as "iq" events)
  {"cmd": "message", "to": J, "body": B, "id": I, "type": "chat"}
  {"cmd": "drop"}                           cut the TCP connection without closing the stream
  {"cmd": "connect"}                        connect again (resumes the stream when possible)
  {"cmd": "quit"}                           close the stream cleanly and exit
  {"cmd": "flood", "to": J, "count": N, "interval_ms": T, "prefix": P, "body": B}
                                            send N chat messages (ids P-0 … P-(N-1)) at a steady
                                            rate, one "sent" event each (at = unix ms), then "flood_done"
Events: ready, session_start, sm_enabled, resumed, resume_failed, message, iq, disconnected,
sent, flood_done.
"""
import asyncio
import json
import logging
import sys
import threading
import time

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath


def emit(event, **fields):
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, sm, presence):
        super().__init__(jid, password)
        self.want_presence = presence
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        if sm:
            self.register_plugin("xep_0198")
            self.plugin["xep_0198"].window = 1
        self["feature_mechanisms"].unencrypted_plain = True
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("session_resumed", lambda e: emit("resumed"))
        self.add_event_handler("sm_enabled", lambda e: emit("sm_enabled"))
        self.add_event_handler("disconnected", lambda e: emit("disconnected"))
        self.add_event_handler("message", self.on_message)
        for iq_type in ("result", "error"):
            self.register_handler(Callback(
                "raw iq " + iq_type,
                StanzaPath("iq@type=" + iq_type),
                lambda iq: emit("iq", id=iq["id"], type=iq["type"], xml=str(iq))))

    def on_start(self, event):
        if self.want_presence:
            self.send_presence()
        emit("session_start", jid=str(self.boundjid))

    def on_message(self, msg):
        emit("message", id=msg["id"], type=msg["type"], body=msg["body"], **{"from": str(msg["from"])})


def handle(client, port, cmd):
    name = cmd.get("cmd")
    try:
        if name == "raw":
            # Through the same send queue as messages, so a raw IQ never overtakes them.
            client.send(cmd["xml"])
        elif name == "message":
            msg = client.make_message(mto=cmd["to"], mbody=cmd.get("body"), mtype=cmd.get("type", "chat"))
            if cmd.get("id"):
                msg["id"] = cmd["id"]
            msg.send()
        elif name == "drop":
            client.abort()
        elif name == "connect":
            client.connect(address=("127.0.0.1", port), disable_starttls=True)
        elif name == "flood":
            start_flood(client, cmd)
        elif name == "quit":
            client.disconnect()
            client.loop.call_later(0.5, client.loop.stop)
    except Exception as err:  # report, keep running
        emit("command_failed", cmd=name, error=repr(err))


def start_flood(client, cmd):
    count = int(cmd["count"])
    interval = float(cmd.get("interval_ms", 10)) / 1000.0
    prefix = cmd.get("prefix", "flood")
    body = cmd.get("body", "flood")
    loop = client.loop
    t0 = loop.time()

    def send(i):
        msg = client.make_message(mto=cmd["to"], mbody=body, mtype="chat")
        msg["id"] = "%s-%d" % (prefix, i)
        msg.send()
        emit("sent", id=msg["id"], at=time.time() * 1000.0)
        if i + 1 < count:
            loop.call_at(t0 + (i + 1) * interval, send, i + 1)
        else:
            emit("flood_done", count=count)

    send(0)


def read_commands(client, port):
    for line in sys.stdin:
        if line.strip():
            client.loop.call_soon_threadsafe(handle, client, port, json.loads(line))
    client.loop.call_soon_threadsafe(handle, client, port, {"cmd": "quit"})


def main():
    jid, password, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    client = Client(jid, password, "--no-sm" not in sys.argv, "--no-presence" not in sys.argv)
    client.connect(address=("127.0.0.1", port), disable_starttls=True)
    threading.Thread(target=read_commands, args=(client, port), daemon=True).start()
    emit("ready")
    client.loop.run_forever()


if __name__ == "__main__":
    main()
