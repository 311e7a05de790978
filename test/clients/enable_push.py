#!/usr/bin/python3
"""Registers XEP-0357 push services for one account, then exits (for the import tests).

Usage: enable_push.py JID PASSWORD PORT
Sends two <enable xmlns='urn:xmpp:push:0'/> requests to the account's own bare JID:
  1. jid='push.example' node='n1' with a publish-options form
     (FORM_TYPE http://jabber.org/protocol/pubsub#publish-options, field 'secret')
  2. jid='push2.example' without a node and without a form
Writes one JSON line per reply ({"id", "type"}) and exits 0 when both were results, else 1.
"""
import asyncio
import json
import sys

import slixmpp
from slixmpp.xmlstream import ET

NS_PUSH = "urn:xmpp:push:0"
NS_DATA = "jabber:x:data"

ENABLES = [
    ("e1",
     "<enable xmlns='urn:xmpp:push:0' jid='push.example' node='n1'>"
     "<x xmlns='jabber:x:data' type='submit'>"
     "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
     "<field var='secret'><value>s3cr&amp;t &lt;1&gt; \u00e9</value></field>"
     "</x></enable>"),
    ("e2", "<enable xmlns='urn:xmpp:push:0' jid='push2.example'/>"),
]


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self["feature_mechanisms"].unencrypted_plain = True
        self.ok = False
        self.add_event_handler("session_start", self.on_start)

    async def on_start(self, event):
        results = []
        try:
            for iq_id, xml in ENABLES:
                iq = self.Iq(stype="set", sid=iq_id)
                iq["to"] = self.boundjid.bare
                iq.append(ET.fromstring(xml))
                try:
                    reply = await iq.send(timeout=10)
                    results.append(reply["type"])
                    print(json.dumps({"id": iq_id, "type": reply["type"]}), flush=True)
                except slixmpp.exceptions.IqError as err:
                    print(json.dumps({"id": iq_id, "type": "error", "xml": str(err.iq)}), flush=True)
                    results.append("error")
            self.ok = results == ["result", "result"]
        finally:
            self.disconnect()


def main():
    jid, password, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = Client(jid, password)
    client.connect(("127.0.0.1", port), disable_starttls=True, force_starttls=False)
    asyncio.get_event_loop().run_until_complete(asyncio.wait_for(client.disconnected, 30))
    sys.exit(0 if client.ok else 1)


if __name__ == "__main__":
    main()
