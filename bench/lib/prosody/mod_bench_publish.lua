-- mod_bench_publish: prices, for bench/prosody-stanza-cost.ts, what a push costs Prosody once the
-- publish exists as a stanza (never for production). A message from the component to the host
-- with <trigger xmlns='urn:cloud-notifyd:bench:0' mode='…'/> makes this module
--   none   do nothing (the price of the trigger itself),
--   build  build the publish exactly as mod_cloud_notify does (util.dataforms, st.iq) and drop it,
--   send   build it and send it to app.localhost, and take the app's result (as mod_cloud_notify's
--          per-id result hook does).
-- send − build is what routing the publish, writing it and taking its result cost: the part of a
-- push that every design in which Prosody sends the publish pays. build − none is the building.

local st = require "util.stanza";
local dataform = require "util.dataforms".new;

local NS = "urn:cloud-notifyd:bench:0";
local push_form = dataform {
	{ name = "FORM_TYPE"; type = "hidden"; value = "urn:xmpp:push:summary"; };
	{ name = "message-count"; type = "text-single"; };
	{ name = "pending-subscription-count"; type = "text-single"; };
	{ name = "last-message-sender"; type = "jid-single"; };
	{ name = "last-message-body"; type = "text-single"; };
};
local counter, pending = 0, {};

module:hook("message/host", function(event)
	local trigger = event.stanza:get_child("trigger", NS);
	if not trigger then return; end
	local mode = trigger.attr.mode;
	if mode == "none" then return true; end
	counter = counter + 1;
	local id = string.format("bench-%08d", counter);
	local payload = st.stanza("notification", { xmlns = "urn:xmpp:push:0" });
	payload:add_child(push_form:form({ ["message-count"] = "1", ["last-message-body"] = "New Message!" }));
	local publish = st.iq({ to = "app.localhost", from = module.host, type = "set", id = id })
		:tag("pubsub", { xmlns = "http://jabber.org/protocol/pubsub" })
			:tag("publish", { node = "u1-0" })
				:tag("item")
					:add_child(payload)
				:up()
			:up();
	if mode ~= "send" then return true; end
	pending[id] = true;
	module:send(publish);
	return true;
end, 20);

module:hook("iq/host", function(event)
	local id = event.stanza.attr.id;
	if id and pending[id] then
		pending[id] = nil;
		return true;
	end
end, 20);
