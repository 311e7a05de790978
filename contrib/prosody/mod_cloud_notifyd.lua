-- mod_cloud_notifyd: the bridge between Prosody and the cloud-notifyd daemon.
--
-- Thin by design: it forwards server-internal events to the daemon (connected as an
-- XEP-0114 component) and executes the daemon's commands. It makes no push decisions.
-- Wire protocol: docs/bridge-protocol.md (urn:cloud-notifyd:bridge:1).
--
-- Rules kept throughout: every hook on the server's own stanzas runs at priority 1 and
-- returns nothing (never claims or alters the event); nothing is bounced to a sender when
-- the daemon is down; message bodies are never logged.
--
-- Configuration (on the VirtualHost):
--   modules_enabled = { ..., "cloud_notifyd" }
--   cloud_notifyd_component = "push.example.com"   -- required
--   cloud_notifyd_buffer_size = 10000              -- unacknowledged events kept
--   cloud_notifyd_request_timeout = 30             -- seconds to wait for enable/disable answers
--   cloud_notifyd_publish_timeout = 120            -- seconds to wait for an app service reply
--   cloud_notifyd_stop_wait = 3                    -- seconds a stopping server waits for publishes in flight
-- Tested on Prosody 0.12.3 (Lua 5.4); written to work with Prosody 13 as well.

local st = require "util.stanza";
local jid_split = require "util.jid".split;
local jid_bare = require "util.jid".bare;
local new_id = require "util.id".medium;
local watchdog = require "util.watchdog";
local time_now = require "util.time".now;
local async = require "util.async";
local sha1 = require "util.hashes".sha1;
local rostermanager = require "core.rostermanager";

local NS = "urn:cloud-notifyd:bridge:1";
local VERSION = "4";
local NS_PUSH = "urn:xmpp:push:0";
local NS_CLIENT = "jabber:client";
local MAX_COPY = 64 * 1024;
-- What one event stanza may hold: the daemon states its parser's limits at hello (<limits>) and
-- every copy is cut to fit them (the defaults are the daemon's own defaults), so no message a user
-- can send makes an event the daemon must refuse.
local limits = { depth = 64, bytes = 1024 * 1024, copies = 1000 };
-- An event the daemon has been sent at this many hellos in a row without acknowledging it is put
-- aside (quarantined): logged here, counted at the next hello, never sent again.
local MAX_REPLAYS = 5;
-- Most offline-storage users reported in one offline-pending event (unclean-stop recovery).
local PENDING_PER_EVENT = 100;

local host = module.host;
local component = module:get_option_string("cloud_notifyd_component");
local buffer_size = module:get_option_number("cloud_notifyd_buffer_size", 10000);
local request_timeout = module:get_option_number("cloud_notifyd_request_timeout", 30);
local publish_timeout = module:get_option_number("cloud_notifyd_publish_timeout", 120);
local stop_wait = module:get_option_number("cloud_notifyd_stop_wait", 3);
local server_hibernation_time = module:get_option_number("smacks_hibernation_time", 600);

if not component then
	module:log("error", "Cannot load mod_cloud_notifyd: cloud_notifyd_component is not set");
	return;
end

local epoch = new_id();
local last_seq = 0;

-- Unacknowledged events: buffer[seq] = stanza for first_seq <= seq <= last_seq.
local buffer = {};
local first_seq = 1;
local dropped = 0;
local quarantined = 0;
-- The first unacknowledged seq at the last hello, and at how many hellos in a row it was first.
local stuck_seq, stuck_hellos = nil, 0;
-- True when this module found no record of a clean stop of the previous process (see below).
local unclean_start = false;

-- The component session that completed the last hello; events go out live only while it
-- is still the component's current session.
local ready_session = nil;

-- Features the daemon announced in its last hello (kept across disconnects).
local announced_features = {};

-- Outstanding IQs we sent and whose reply we route:
-- pending[id] = { from = expected sender, on_reply, on_timeout, deadline }.
local pending = {};

-- Set when the server begins to stop: no publish is forwarded after that (see settle_publishes).
local stopping = false;
-- While the server waits for the last publishes' answers at stop: called when none is left.
local publishes_settled = nil;

-- "cloud_notify" while Prosody's own push module is loaded on this host: nothing is forwarded
-- then (see "Companion modules" near the end, which also defines report_modules).
local conflict = nil;
local report_modules;

local function log_line(level, fmt, ...)
	module:log(level, fmt, ...);
end

-- Component connection state, read from mod_component's per-host environment.
local function component_session()
	local comp_host = prosody.hosts[component];
	local env = comp_host and comp_host.modules and comp_host.modules.component;
	if not env then return nil; end
	if rawget(env, "connected") then
		return rawget(env, "session");
	end
	return nil;
end

local function is_ready()
	return ready_session ~= nil and not ready_session.destroyed and component_session() == ready_session;
end

-- The component is connected but has not said hello to this host (this module was loaded or
-- reloaded while the stream stayed up, or the daemon does not serve this host): ask once per
-- component session. A daemon that serves this host answers with a hello, another with
-- <refused/> (see the message/host hook).
local hello_requested_for = nil;
local function request_hello()
	local session = component_session();
	if session == nil or session == ready_session or session == hello_requested_for then return; end
	hello_requested_for = session;
	module:send(st.message({ from = host, to = component }):tag("hello-request", { xmlns = NS }):up());
end

-- The first child element named `name`, whatever its namespace.
local function child_named(element, name)
	for _, child in ipairs(element.tags) do
		if child.name == name then return child; end
	end
	return nil;
end

-- Stanza copies ---------------------------------------------------------------------------

-- Clone a stanza for embedding, with its namespace made explicit.
local function copy_of(stanza)
	local copy = st.clone(stanza);
	if not copy.attr.xmlns then copy.attr.xmlns = NS_CLIENT; end
	return copy;
end

-- A small stand-in for an oversized stanza: root attributes, body shortened to one
-- character, and the element structure the daemon inspects (bounded depth, short texts).
local function stub_of(element, depth)
	local stub = st.stanza(element.name, element.attr);
	for _, child in ipairs(element) do
		if type(child) == "string" then
			if #child <= 256 then stub:text(child); end
		elseif child.name == "body" then
			local text = child:get_text();
			stub:tag("body", child.attr):text(text ~= "" and "…" or ""):up();
		elseif depth < 4 then
			stub:add_child(stub_of(child, depth + 1));
		else
			stub:add_child(st.stanza(child.name, child.attr));
		end
	end
	return stub;
end

-- The smallest stand-in that still classifies (B18–B23): the root's addressing attributes, a
-- one-character body if there was one, and its first direct children as empty elements
-- (encryption markers, JMI). Bounded whatever the stanza: 5 attributes, 64 children.
local MARKER_ATTRS = { "xmlns", "to", "from", "type", "id" };
-- An attribute kept in a marker: as is up to 3071 bytes (a JID's limit), else its SHA-1, so that
-- two different oversized stanzas never look alike to the daemon's dedupe (D8).
local function short(value)
	if type(value) ~= "string" then return nil; end
	if #value <= 3071 then return value; end
	return "sha1-" .. sha1(value, true);
end
-- Reads `stanza` only (no clone needed); its namespace is made explicit as copy_of does.
local function marker_of(stanza)
	local attrs = {};
	for _, name in ipairs(MARKER_ATTRS) do attrs[name] = short(stanza.attr[name]); end
	attrs.xmlns = attrs.xmlns or NS_CLIENT;
	local marker = st.stanza(stanza.name, attrs);
	for i, child in ipairs(stanza.tags) do
		if i > 64 then break; end
		if child.name == "body" then
			marker:tag("body"):text(child:get_text() ~= "" and "…" or ""):up();
		elseif #child.name <= 256 then
			marker:tag(child.name, { xmlns = short(child.attr.xmlns) }):up();
		end
	end
	return marker;
end

-- True when `element` nests deeper than `levels` (itself = 1). Stops at the limit.
local function deeper_than(element, levels)
	if levels <= 0 then return true; end
	for _, child in ipairs(element.tags) do
		if deeper_than(child, levels - 1) then return true; end
	end
	return false;
end

-- A copy of `element` down to `levels` levels; deeper elements are left out.
local function shallow_of(element, levels)
	local copy = st.stanza(element.name, element.attr);
	for _, child in ipairs(element) do
		if type(child) == "string" then
			copy:text(child);
		elseif levels > 1 then
			copy:add_child(shallow_of(child, levels - 1));
		end
	end
	return copy;
end

-- A stanza serialised as it would appear inside an event: with xmlns='jabber:client' on its
-- root when it has none. Serialising the original (namespace set for the moment) instead of a
-- clone: the copy is made once, as text, and nothing can change it afterwards.
local function client_text(stanza)
	local xmlns = stanza.attr.xmlns;
	if xmlns then return tostring(stanza); end
	stanza.attr.xmlns = NS_CLIENT;
	local text = tostring(stanza);
	stanza.attr.xmlns = nil;
	return text;
end

-- The stanza as text for an event, under `level` (default 2: <message><event>) levels, cut to the
-- daemon's nesting limit and shrunk when it is over MAX_COPY bytes (stub, then marker).
local function bounded_text(stanza, level)
	local levels = limits.depth - (level or 2);
	if deeper_than(stanza, levels) then
		stanza = shallow_of(copy_of(stanza), levels);
	end
	local text = client_text(stanza);
	if #text <= MAX_COPY then return text; end
	-- A stub or marker of two different big stanzas can be alike (bodies become "…"): the digest
	-- of the whole stanza keeps them apart for the daemon's dedupe (D8).
	local digest = sha1(text, true);
	local copy = copy_of(stanza);
	local stub = stub_of(copy, 0);
	stub.attr["cnd-digest"] = digest;
	text = tostring(stub);
	if #text <= MAX_COPY then return text; end
	local marker = marker_of(copy);
	marker.attr["cnd-digest"] = digest;
	return tostring(marker);
end

-- Events ----------------------------------------------------------------------------------

local function buffer_count()
	return last_seq - first_seq + 1;
end

local xml_escape = st.xml_escape;
local wrapper_head = "<message from='" .. xml_escape(host) .. "' to='" .. xml_escape(component) .. "'>"
	.. "<event xmlns='" .. NS .. "' epoch='";

-- Events are kept as text: { type, attrs (serialised), payload (serialised children) }. The
-- wrapper, with the current epoch and the event's seq, is added when it is sent: serialising
-- each stanza once and writing the text straight to the daemon's session costs Prosody about
-- half of building, cloning, routing and serialising a stanza tree per event.
local function event_text(seq, event)
	return wrapper_head .. epoch .. "' seq='" .. string.format("%d", seq) .. "' type='" .. event.type .. "'"
		.. event.attrs .. ">" .. event.payload .. "</event></message>";
end

local function send_event(seq)
	local event = buffer[seq];
	if event then ready_session.send(event_text(seq, event)); end
end

local function attrs_text(attrs)
	local parts = {};
	for k, v in pairs(attrs) do parts[#parts + 1] = " " .. k .. "='" .. xml_escape(tostring(v)) .. "'"; end
	return table.concat(parts);
end

local function trim_buffer()
	while buffer_count() > buffer_size do
		buffer[first_seq] = nil;
		first_seq = first_seq + 1;
		dropped = dropped + 1;
		if dropped == 1 or dropped % 1000 == 0 then
			log_line("warn", "Event buffer full (%d), dropped %d events so far", buffer_size, dropped);
		end
	end
end

-- Roster knowledge for the ignore-unknown push filter (E3.1, bridge-protocol.md §2 `contacts`):
-- computed only while the daemon announces that filter. For an online user the roster is a table
-- in memory; for an offline one rostermanager keeps the last 1024 loaded rosters in a cache, so
-- a storage read happens only on a miss. One lookup per distinct sender of an event.
local NS_FILTER_UNKNOWN = "tigase:push:filter:ignore-unknown:0";
local CONTACT_EVENTS = { offline = true, archived = true, ["groupchat-bare"] = true,
	["stanza-queued"] = true, ["hibernation-started"] = true, ["ack-delayed"] = true };
-- Set at every hello: whether the daemon announced the ignore-unknown filter.
local contacts_wanted = false;

-- The bare sender of a message copy: a received carbon's inner message's, else its own.
local function sender_of(stanza)
	local received = stanza:get_child("received", "urn:xmpp:carbons:2");
	local forwarded = received and received:get_child("forwarded", "urn:xmpp:forward:0");
	if forwarded then
		local inner = child_named(forwarded, "message");
		if inner then stanza = inner; end
	end
	return stanza.attr.from and jid_bare(stanza.attr.from);
end

-- Space-separated bare JIDs of the message senders that are in `user`'s roster with a from/both
-- subscription; nil (unknown) when the daemon does not filter by it or a roster could not be read.
local function contacts_of(user, children)
	if not contacts_wanted then return nil; end
	local own = user .. "@" .. host;
	local seen, list = {}, {};
	for _, child in ipairs(children or {}) do
		local sender = child.name == "message" and sender_of(child);
		if sender and sender ~= own and seen[sender] == nil then
			local ok, subscribed, err = pcall(rostermanager.is_contact_subscribed, user, host, sender);
			if not ok or err then return nil; end
			seen[sender] = subscribed and true or false;
			if subscribed then list[#list + 1] = sender; end
		end
	end
	return table.concat(list, " ");
end

-- The event's own wrapper (<message><event epoch seq type>, bounded names) beside its attributes.
local EVENT_WRAPPER_BYTES = 1024;

-- `children`: stanzas to copy, or texts a caller already bounded (offline-pending's <pending>
-- entries, whose copies sit one level deeper).
local function emit(event_type, attrs, children)
	if conflict and event_type ~= "publish-result" then return; end
	if CONTACT_EVENTS[event_type] and attrs.user then attrs.contacts = contacts_of(attrs.user, children); end
	-- One event must stay within the daemon's limits (stated at hello), or it would be refused:
	-- full copies up to half the size limit, then markers, at most `limits.copies`, and never past
	-- the size limit itself (a marker is bounded by shape, not by size: the rest is left out).
	local attrs_part = attrs_text(attrs);
	local room = limits.bytes - #attrs_part - EVENT_WRAPPER_BYTES;
	local parts = {};
	local budget = limits.bytes // 2;
	for i, child in ipairs(children or {}) do
		if i > limits.copies then break; end
		local text;
		if type(child) == "string" then
			text = child;
		elseif budget > 0 then
			text = bounded_text(child);
		end
		if type(child) ~= "string" and (text == nil or #text > room) then
			text = tostring(marker_of(child));
		end
		if #text > room then break; end
		room = room - #text;
		budget = budget - #text;
		parts[#parts + 1] = text;
	end
	last_seq = last_seq + 1;
	buffer[last_seq] = { type = event_type, attrs = attrs_part, payload = table.concat(parts), publish = attrs.publish };
	trim_buffer();
	if is_ready() then send_event(last_seq); else request_hello(); end
end

local function acknowledge(ack_epoch, seq)
	if ack_epoch ~= epoch or not seq then return; end
	if seq > last_seq then seq = last_seq; end
	while first_seq <= seq do
		buffer[first_seq] = nil;
		first_seq = first_seq + 1;
	end
end

local function replay()
	for seq = first_seq, last_seq do send_event(seq); end
end

-- Called at each hello, before the replay. The daemon acknowledges (or refuses, and still
-- acknowledges) every event it can parse; one that is still first after MAX_REPLAYS hellos in a
-- row kept breaking the link (a stream-level fault on the daemon's side). It is put aside so that
-- the events behind it flow again: logged without its content, counted in every hello result.
local function quarantine_stuck()
	if first_seq > last_seq then stuck_seq, stuck_hellos = nil, 0; return; end
	if stuck_seq == first_seq then
		stuck_hellos = stuck_hellos + 1;
	else
		stuck_seq, stuck_hellos = first_seq, 1;
	end
	if stuck_hellos <= MAX_REPLAYS then return; end
	local event = buffer[first_seq];
	log_line("error", "Quarantined event %d (%s, %d bytes): the daemon did not acknowledge it in %d connections",
		first_seq, event and event.type or "?", event and #event.payload or 0, MAX_REPLAYS);
	buffer[first_seq] = nil;
	first_seq = first_seq + 1;
	quarantined = quarantined + 1;
	stuck_seq, stuck_hellos = first_seq, 1;
end

local function session_attrs(session)
	return {
		user = session.username;
		session = session.id;
		full = session.full_jid;
		["client-id"] = session.client_id;
	};
end

local function user_of(stanza, origin)
	local to = stanza.attr.to;
	local node = to and jid_split(to);
	return node or (origin and origin.username);
end

module:hook("message/offline/handle", function(event)
	local user = user_of(event.stanza, event.origin) or event.username;
	if not user then return; end
	emit("offline", { user = user }, { event.stanza });
end, 1);

module:hook("archive-message-added", function(event)
	local stanza, for_user = event.stanza, event.for_user;
	if user_of(stanza, event.origin) ~= for_user then return; end
	local user_sessions = prosody.hosts[host].sessions[for_user];
	if not (user_sessions and next(user_sessions.sessions)) then return; end
	emit("archived", { user = for_user, ["archive-id"] = event.id }, { stanza });
end, 1);

module:hook("message/bare/groupchat", function(event)
	local user = user_of(event.stanza, event.origin);
	if not user then return; end
	emit("groupchat-bare", { user = user }, { event.stanza });
end, 1);

module:hook("resource-bind", function(event)
	local session = event.session;
	if not session.username then return; end
	emit("session-started", session_attrs(session));
end, 1);

module:hook("resource-unbind", function(event)
	local session = event.session;
	if not session.username then return; end
	emit("session-ended", { user = session.username, session = session.id });
end, 1);

local function queue_children(queue)
	local children = {};
	if type(queue) == "table" then
		for i = 1, #queue do
			if queue[i] then children[#children + 1] = queue[i]; end
		end
	end
	return children;
end

module:hook("smacks-hibernation-start", function(event)
	local session = event.origin;
	session.cloud_notifyd_saved_watchdog = nil;
	emit("hibernation-started", { user = session.username, session = session.id }, queue_children(event.queue));
end, 1);

module:hook("smacks-hibernation-stanza-queued", function(event)
	local session = event.origin;
	emit("stanza-queued", { user = session.username, session = session.id }, { event.stanza });
end, 1);

module:hook("smacks-ack-delayed", function(event)
	local session = event.origin;
	local children = event.stanza and { event.stanza } or queue_children(event.queue);
	emit("ack-delayed", { user = session.username, session = session.id }, children);
end, 1);

module:hook("smacks-hibernation-end", function(event)
	-- event.origin is the new connection's temporary session; the session that lives on
	-- (and keeps its id) is event.resumed.
	local session = event.resumed or event.origin;
	session.cloud_notifyd_saved_watchdog = nil;
	emit("hibernation-ended", { user = session.username, session = session.id });
end, 1);

-- Account lifecycle: usermanager fires these on the global event bus (prosody.events), not on
-- the host's, in 0.12 and 13 alike (mod_roster, mod_blocklist and mod_c2s use hook_global too).
-- user-deleted purges the user in the daemon; user-disabled (an admin, or
-- mod_user_account_management's grace period before deletion) suspends the user's pushes and
-- user-enabled resumes them. 0.12 never fires the last two.
for _, name in ipairs({ "user-deleted", "user-disabled", "user-enabled" }) do
	module:hook_global(name, function(event)
		if event.host ~= module.host or not event.username then return; end
		emit(name, { user = event.username });
	end, 1);
end

-- Account disco ---------------------------------------------------------------------------

module:hook("account-disco-info", function(event)
	if conflict then return; end -- mod_cloud_notify announces urn:xmpp:push:0 itself
	local reply = event.reply;
	local seen = { [NS_PUSH] = true };
	reply:tag("feature", { var = NS_PUSH }):up();
	for _, var in ipairs(announced_features) do
		if not seen[var] then
			seen[var] = true;
			reply:tag("feature", { var = var }):up();
		end
	end
end, 1);

-- IQ tracking (replies addressed to the host, matched by id) ---------------------------------

-- Deadlines are checked by one sweep a second while anything is outstanding, rather than by a
-- timer per IQ: a push costs Prosody one table entry, and a timeout fires at most 1 s late.
local SWEEP_INTERVAL = 1;
local sweeping = false;

local function sweep()
	local now = time_now();
	local expired = {};
	for id, entry in pairs(pending) do
		if entry.deadline <= now then expired[#expired + 1] = id; end
	end
	for _, id in ipairs(expired) do
		local entry = pending[id];
		pending[id] = nil;
		entry.on_timeout();
	end
	if next(pending) == nil then
		sweeping = false;
		return nil;
	end
	return SWEEP_INTERVAL;
end

local function track(id, expected_from, timeout, on_reply, on_timeout, is_publish)
	pending[id] = {
		from = expected_from, on_reply = on_reply, on_timeout = on_timeout,
		deadline = time_now() + timeout, publish = is_publish,
	};
	if not sweeping then
		sweeping = true;
		module:add_timer(SWEEP_INTERVAL, sweep);
	end
end

module:hook("iq/host", function(event)
	local stanza = event.stanza;
	local iq_type = stanza.attr.type;
	if iq_type ~= "result" and iq_type ~= "error" then return; end
	local id = stanza.attr.id;
	local entry = id and pending[id];
	if not entry or stanza.attr.from ~= entry.from then return; end
	pending[id] = nil;
	entry.on_reply(stanza);
	if publishes_settled and entry.publish then publishes_settled(); end
	return true; -- the reply to our own IQ: nobody else expects it
end, 10);

-- Client IQs: enable / disable ------------------------------------------------------------

-- Drop the explicit jabber:client namespace from copied elements (the client stream's default).
local function strip_client_ns(element)
	if element.attr.xmlns == NS_CLIENT then element.attr.xmlns = nil; end
	for _, child in ipairs(element.tags) do strip_client_ns(child); end
	return element;
end

local function forward_client_iq(event)
	if conflict then return; end -- let mod_cloud_notify answer
	local origin, stanza = event.origin, event.stanza;
	if origin.type ~= "c2s" or not origin.username then return; end
	local bare = origin.username .. "@" .. origin.host;
	local function answer(reply)
		if not origin.destroyed then origin.send(reply); end
	end
	if not is_ready() then
		request_hello();
		answer(st.error_reply(stanza, "wait", "service-unavailable", "Push service not available"));
		return true;
	end
	local id = new_id();
	local attrs = session_attrs(origin);
	attrs.xmlns = NS;
	local request = st.iq({ type = "set", from = host, to = component, id = id })
		:tag("request", attrs):add_child(copy_of(stanza)):up();
	track(id, component, request_timeout, function(reply)
		local response = reply:get_child("response", NS);
		local inner = response and child_named(response, "iq");
		if reply.attr.type ~= "result" or not inner then
			-- e.g. mod_component bounced the request because the daemon just went away
			answer(st.error_reply(stanza, "wait", "service-unavailable", "Push service not available"));
			return;
		end
		if response.attr.bound then
			origin.cloud_notifyd_bound = response.attr.bound ~= "" and response.attr.bound or nil;
		end
		local out = st.stanza("iq", {
			type = inner.attr.type == "error" and "error" or "result";
			id = stanza.attr.id;
			to = stanza.attr.from;
			from = bare;
		});
		for _, child in ipairs(inner.tags) do
			out:add_child(strip_client_ns(st.clone(child)));
		end
		answer(out);
	end, function()
		answer(st.error_reply(stanza, "wait", "remote-server-timeout", "Push service did not answer"));
	end);
	module:send(request);
	return true;
end

-- iq-set/self/* only fires for a user's own session (to = own bare JID or none).
module:hook("iq-set/self/" .. NS_PUSH .. ":enable", forward_client_iq);
module:hook("iq-set/self/" .. NS_PUSH .. ":disable", forward_client_iq);

-- Daemon commands -------------------------------------------------------------------------

local function from_daemon(event)
	local origin, stanza = event.origin, event.stanza;
	return origin.type == "component" and stanza.attr.from == component;
end

local function refuse(event)
	event.origin.send(st.error_reply(event.stanza, "cancel", "forbidden"));
	return true;
end

-- Events are small and latency-bound: without TCP_NODELAY, Nagle's algorithm holds an event
-- back until the daemon's delayed ACK for the previous write (up to 40 ms on Linux). Prosody
-- only disables Nagle globally (network_settings.nagle = false), so do it for this link.
local function no_delay(session)
	local conn = session.conn;
	if conn and conn.setoption then
		local ok, err = conn:setoption("tcp-nodelay", true);
		if not ok then log_line("debug", "Cannot set TCP_NODELAY on the daemon link: %s", tostring(err)); end
	end
end

module:hook("iq-get/host/" .. NS .. ":hello", function(event)
	if not from_daemon(event) then return refuse(event); end
	local stanza = event.stanza;
	local hello = stanza.tags[1];
	if hello.attr.version ~= VERSION then
		log_line("warn", "Daemon speaks bridge protocol version %s, this bridge speaks %s",
			tostring(hello.attr.version), VERSION);
		event.origin.send(st.error_reply(stanza, "cancel", "feature-not-implemented",
			"bridge protocol version " .. VERSION .. " required"));
		return true;
	end
	local features = {};
	contacts_wanted = false;
	for feature in hello:childtags("feature") do
		if feature.attr.var then features[#features + 1] = feature.attr.var; end
		if feature.attr.var == NS_FILTER_UNKNOWN then contacts_wanted = true; end
	end
	announced_features = features;
	local stated = hello:get_child("limits");
	if stated then
		-- The daemon's parser limits for one event stanza; events from now on are cut to fit them.
		limits = {
			depth = math.max(8, math.min(tonumber(stated.attr.depth) or limits.depth, 1000)),
			bytes = math.max(64 * 1024, math.min(tonumber(stated.attr.bytes) or limits.bytes, 64 * 1024 * 1024)),
			copies = math.max(16, math.min(tonumber(stated.attr.copies) or limits.copies, 100000)),
		};
	end
	quarantine_stuck();

	local reply = st.reply(stanza):tag("hello", {
		xmlns = NS; version = VERSION; epoch = epoch;
		server = "Prosody " .. tostring(prosody.version);
		dropped = string.format("%d", dropped);
		conflict = conflict;
		quarantined = string.format("%d", quarantined);
		first = string.format("%d", first_seq);
		unclean = unclean_start and "true" or nil;
	});
	for user, user_sessions in pairs(prosody.hosts[host].sessions or {}) do
		for _, session in pairs(user_sessions.sessions or {}) do
			if session.full_jid then
				local attrs = session_attrs(session);
				attrs.user = user;
				attrs.id, attrs.session = session.id, nil;
				attrs.bound = session.cloud_notifyd_bound;
				attrs.hibernating = session.hibernating and "true" or nil;
				reply:tag("session", attrs):up();
			end
		end
	end
	-- Publishes this bridge forwarded whose outcome the daemon has not acknowledged yet: still
	-- waiting for the app service, or their publish-result event is buffered. The daemon re-sends
	-- only publishes it does not find here.
	for id, entry in pairs(pending) do
		if entry.publish then reply:tag("publish", { id = id }):up(); end
	end
	for seq = first_seq, last_seq do
		local buffered = buffer[seq];
		if buffered and buffered.publish then reply:tag("publish", { id = buffered.publish }):up(); end
	end
	report_modules(reply);
	if dropped > 0 then
		log_line("warn", "Daemon connected; %d events were dropped while the buffer was full", dropped);
	end
	event.origin.send(reply);
	ready_session = event.origin;
	no_delay(event.origin);
	replay();
	return true;
end);

local function find_session(user, session_id)
	local user_sessions = user and prosody.hosts[host].sessions[user];
	if not user_sessions then return nil; end
	for _, session in pairs(user_sessions.sessions) do
		if session.id == session_id then return session; end
	end
	return nil;
end

-- Replace the session's smacks watchdog with one of `seconds` that calls the original
-- callback with the new watchdog as argument. mod_smacks' callback (0.12.3) closes over the
-- session and destroys it; 0.12.4+ and 13 also ignore calls whose watchdog argument is not
-- session.hibernating_watchdog, which our watchdog is, so expiry really ends the session (D12).
local function replace_watchdog(session, seconds, callback)
	session.hibernating_watchdog:cancel();
	session.hibernating_watchdog = watchdog.new(seconds, function(this_dog)
		return callback(this_dog);
	end);
end

module:hook("iq-set/host/" .. NS .. ":hibernation-timeout", function(event)
	if not from_daemon(event) then return refuse(event); end
	local stanza = event.stanza;
	local cmd = stanza.tags[1];
	local session = find_session(cmd.attr.user, cmd.attr.session);
	if not (session and session.hibernating and session.hibernating_watchdog) then
		event.origin.send(st.error_reply(stanza, "cancel", "item-not-found", "No such hibernating session"));
		return true;
	end
	local saved = session.cloud_notifyd_saved_watchdog;
	if not saved then
		local current = session.hibernating_watchdog;
		saved = { callback = current.callback, timeout = current.timeout or server_hibernation_time };
		session.cloud_notifyd_saved_watchdog = saved;
	end
	if cmd.attr.restore == "true" or cmd.attr.restore == "1" then
		replace_watchdog(session, saved.timeout, saved.callback);
	else
		local seconds = tonumber(cmd.attr.seconds);
		if not seconds or seconds <= 0 then
			event.origin.send(st.error_reply(stanza, "modify", "bad-request", "seconds must be a positive number"));
			return true;
		end
		replace_watchdog(session, seconds, saved.callback);
	end
	event.origin.send(st.reply(stanza));
	return true;
end);

-- publish-as-host is a <message> from the daemon (it needs no reply: the outcome comes back as
-- a publish-result event). Called from the message/host hook below for the daemon's session.
local function publish_as_host(command)
	local inner = child_named(command, "iq");
	if not (inner and inner.attr.to and inner.attr.id) then
		log_line("warn", "Ignoring a publish-as-host without an iq with to and id");
		return;
	end
	local id = inner.attr.id;
	if stopping then
		-- Forwarded now, its outcome could no longer be saved: not listed at the next hello, so the
		-- daemon sends it again after the restart.
		return;
	end
	if pending[id] then
		log_line("warn", "Ignoring a second publish-as-host for %s, still waiting for the first", id);
		return;
	end
	-- The command stanza is ours alone and dropped after this handler: send its inner IQ as is.
	local out = strip_client_ns(inner);
	out.attr.from = host;
	-- The outcome travels as a buffered event (acknowledged, replayed after a reconnect, saved
	-- across a restart), never in a reply, which a broken link would lose: the daemon then knows
	-- every publish this bridge forwarded and re-sends only the others (exactly once).
	track(id, out.attr.to, publish_timeout, function(reply)
		emit("publish-result", { publish = id }, { reply });
	end, function()
		emit("publish-result", { publish = id, timeout = "true" });
	end, true);
	module:send(out);
end

module:hook("message/host", function(event)
	local stanza = event.stanza;
	if stanza.attr.from ~= component then return; end
	-- An ack comes alone or first in a command's message (it rides on a publish-as-host: one
	-- stanza fewer for Prosody to parse and route).
	local ack = stanza:get_child("ack", NS);
	local command = stanza:get_child("publish-as-host", NS);
	if ack or command then
		if event.origin and event.origin.type == "component" then
			if ack then acknowledge(ack.attr.epoch, tonumber(ack.attr.seq)); end
			if command then publish_as_host(command); end
		end
		return true;
	end
	local refused = stanza:get_child("refused", NS);
	if refused then
		if event.origin and event.origin.type == "component" then
			log_line("error", "The daemon at %s does not serve %s (%s): add \"%s\" to hosts in its configuration; until then no push for this host",
				component, host, tostring(refused.attr.reason), host);
		end
		return true;
	end
	if stanza.attr.type == "error" then
		-- An event bounced by mod_component while the daemon was away: it stays buffered.
		ready_session = nil;
		return true;
	end
end, 10);

module:hook("iq-set/host/" .. NS .. ":hello", refuse);

-- Unacknowledged events survive a restart ----------------------------------------------
-- Saved when the server stops (after mod_smacks moved dying sessions' unacked stanzas to
-- offline storage, which emits events too) and when the module unloads; restored into the
-- new epoch at load. The daemon deduplicates by stanza key (D8), so an event it had already
-- handled but not yet acknowledged pushes nothing twice.

local buffer_store = module:open_store("cloud_notifyd_buffer");
local saved = false;

-- A record of whether the previous process stopped cleanly: `running` is set at load and cleared
-- once the buffer is saved at a clean stop or unload. Found set at load, the previous process died
-- (kill -9, crash, power loss) with its unacknowledged events, so the bridge reports what offline
-- storage holds instead (recover_offline below).
local state_store = module:open_store("cloud_notifyd_state");

local function save_buffer()
	if saved then return; end
	saved = true;
	local items = {};
	for seq = first_seq, last_seq do
		local event = buffer[seq];
		if event then items[#items + 1] = event; end
	end
	if #items > 0 then
		local ok, err = buffer_store:set(nil, { version = 2, events = items });
		if not ok then
			-- Still marked running: the next start recovers the pushes from offline storage (D21).
			log_line("error", "Cannot save %d unacknowledged events: %s", #items, tostring(err));
			return;
		end
		log_line("info", "Saved %d unacknowledged events for the daemon", #items);
	end
	state_store:set(nil, { running = false });
end

-- A saved event ({ type, attrs, payload } texts); anything else is not ours and is skipped.
local function saved_event(item)
	if type(item) ~= "table" then return nil; end
	if type(item.type) == "string" and type(item.attrs) == "string" and type(item.payload) == "string" then
		return { type = item.type, attrs = item.attrs, payload = item.payload, publish = item.publish };
	end
	return nil;
end

local function restore_buffer()
	local data, err = buffer_store:get(nil);
	if err then log_line("error", "Cannot read saved events: %s", tostring(err)); return; end
	if not (data and type(data.events) == "table") then return; end
	buffer_store:set(nil, nil);
	local restored = 0;
	for _, item in ipairs(data.events) do
		local event = saved_event(item);
		if event then
			last_seq = last_seq + 1;
			buffer[last_seq] = event;
			restored = restored + 1;
		end
	end
	trim_buffer();
	log_line("info", "Restored %d events saved before the last stop", restored);
end

local function publishes_out()
	local n = 0;
	for _, entry in pairs(pending) do
		if entry.publish then n = n + 1; end
	end
	return n;
end

-- At stop, publishes already forwarded get up to `cloud_notifyd_stop_wait` seconds for their
-- answers, with the server still running: a publish written just before the stop may not even
-- have left Prosody's output buffer yet (it exits without flushing component streams), and
-- recording it as a timeout would lose that push for good. Only in Prosody's shutdown thread,
-- which may wait (util.async); elsewhere (module unload) nothing waits.
local function wait_for_publishes()
	local out = publishes_out();
	if out == 0 or stop_wait <= 0 or not async.ready() then return; end
	-- allow_many: whichever of the last answer and the timer comes second calls done() in vain.
	local wait, done = async.waiter(1, true);
	publishes_settled = function()
		if publishes_out() == 0 then done(); end
	end;
	module:add_timer(stop_wait, function() done(); end);
	log_line("info", "Waiting up to %gs for the answers to %d publishes in flight", stop_wait, out);
	wait();
	publishes_settled = nil;
end

-- A publish still waiting for its app service when the server stops (after the wait above) will
-- never be answered (the reply would reach the old process): its outcome is recorded as a
-- timeout event, saved with the buffer, so the daemon does not send it a second time after the
-- restart.
local function settle_publishes()
	stopping = true;
	wait_for_publishes();
	for id, entry in pairs(pending) do
		if entry.publish then
			pending[id] = nil;
			entry.on_timeout();
		end
	end
end

module:hook_global("server-stopping", settle_publishes, -900);
module:hook_global("server-stopping", save_buffer, -1000);
restore_buffer();

-- Unclean-stop recovery: every user with messages in offline storage is reported to the daemon in
-- offline-pending events (PENDING_PER_EVENT users each: the count, when the newest was stored,
-- and a copy of it), which pushes each one that has a registration and was not pushed since
-- (docs/bridge-protocol.md §2). Those messages' own offline events may have died unacknowledged
-- with the previous process; without this their phones would never be woken. Cost: one read of
-- each such user's offline store, once after an unclean stop (not at every start), spread over
-- timer ticks: 100k users took about 30 s on a small VM (bench/recovery-scan.ts).
local RECOVERY_USERS_PER_TICK = 200;
local function recover_offline()
	local offline_store = module:open_store("offline", "archive");
	if not offline_store.users then
		log_line("warn", "Cannot list offline storage after an unclean stop: the storage driver has no users()");
		return;
	end
	-- users() returns a generic-for iterator and its state (datamanager's lfs.dir iterator needs it)
	local users, users_state, control = offline_store:users();
	local started, reported, batch, batch_bytes = time_now(), 0, {}, 0;
	local function flush()
		if #batch == 0 then return; end
		emit("offline-pending", {}, batch);
		batch, batch_bytes = {}, 0;
	end
	-- Each user's offline list is read whole (about 0.3 ms with internal storage): a few hundred
	-- per timer tick keep the server answering its clients while a large host is scanned.
	local function step()
		for _ = 1, RECOVERY_USERS_PER_TICK do
			local user = users(users_state, control);
			if user == nil then
				flush();
				log_line("warn", "The previous Prosody stopped without saving its events: reported %d users with offline messages to the daemon (%.2fs)",
					reported, time_now() - started);
				return nil;
			end
			control = user;
			-- One pass, oldest to newest (0.12's `total` and 13's lazy lists differ; this works on both).
			local iter = offline_store:find(user, nil);
			local count, stanza, when = 0, nil, nil;
			if iter then
				for _, item, item_when in iter do
					count, stanza, when = count + 1, item, item_when;
				end
			end
			if count > 0 then
				-- Only the copy inside is shrunk (bounded_text, three levels down), never the entry's
				-- own attributes; an event holds at most PENDING_PER_EVENT entries and half the
				-- daemon's size limit, so every entry reaches the daemon whole.
				local head = "<pending xmlns='" .. NS .. "' user='" .. xml_escape(user)
					.. string.format("' count='%d' latest='%d'>", count, math.floor((tonumber(when) or 0) * 1000));
				local copy = (type(stanza) == "table" and stanza.name) and bounded_text(stanza, 3) or "";
				if #copy > limits.bytes // 4 then copy = tostring(marker_of(stanza)); end
				local entry = head .. copy .. "</pending>";
				if #batch > 0 and batch_bytes + #entry > limits.bytes // 2 then flush(); end
				batch[#batch + 1] = entry;
				batch_bytes = batch_bytes + #entry;
				reported = reported + 1;
				if #batch >= PENDING_PER_EVENT then flush(); end
			end
		end
		return 0.001; -- run again on the next timer tick
	end
	module:add_timer(0, step);
end

-- Loaded (or reloaded) while the component is already connected: ask for a hello now.
module:add_timer(0, function() request_hello(); end);

do
	local previous = state_store:get(nil);
	unclean_start = type(previous) == "table" and previous.running == true;
	state_store:set(nil, { running = true });
	if unclean_start then module:add_timer(0, recover_offline); end
end

function module.unload()
	settle_publishes();
	save_buffer();
	for id in pairs(pending) do pending[id] = nil; end
end

-- Companion modules and the cloud_notify conflict (bridge-protocol.md §1, §7) ---------------
-- Prosody's own mod_cloud_notify on this host would answer enable/disable and push as well
-- (Prosody 13's stock configuration enables it globally). While it is loaded here the bridge
-- forwards no client IQ and no event, so Prosody's module answers and pushes alone, never both;
-- it logs one error line naming the fix and tells the daemon (hello `conflict`, `<modules>`
-- message), whose /readyz then says why it is not ready. Checked at load and on every
-- module-loaded / module-unloaded: a host's modules load in no fixed order. Not a
-- `--% conflicts: mod_cloud_notify` header: 13's modulemanager tests it against the core
-- features, where "mod_cloud_notify" is always listed (bundled), so the bridge would never load
-- on 13, even with cloud_notify disabled, and nobody would be told why on the daemon's side.
-- The same report lists whether the modules the push behaviour relies on are loaded.

local modulemanager = require "core.modulemanager";
local COMPANIONS = { "smacks", "mam", "carbons", "offline" };
local WATCHED = { cloud_notify = true };
for _, name in ipairs(COMPANIONS) do WATCHED[name] = true; end
local last_report = nil;

local function loaded_here(name)
	return modulemanager.is_loaded(host, name) and true or false;
end

local function module_report()
	local children = {};
	for _, name in ipairs(COMPANIONS) do
		children[#children + 1] = st.stanza("module", { xmlns = NS, name = name, loaded = tostring(loaded_here(name)) });
	end
	return children;
end

report_modules = function(parent)
	for _, child in ipairs(module_report()) do parent:add_child(child); end
	return parent;
end

local function check_modules(announce)
	local now_conflict = loaded_here("cloud_notify") and "cloud_notify" or nil;
	if now_conflict and not conflict then
		log_line("error", "Cannot push beside mod_cloud_notify on %s: add modules_disabled = { \"cloud_notify\" } to VirtualHost \"%s\" (or remove \"cloud_notify\" from modules_enabled) and restart Prosody; until then mod_cloud_notify pushes alone", host, host);
	elseif conflict and not now_conflict then
		log_line("info", "mod_cloud_notify is no longer loaded on %s: forwarding to the daemon again", host);
	end
	conflict = now_conflict;
	local children = module_report();
	local parts = { conflict or "" };
	for _, child in ipairs(children) do parts[#parts + 1] = child.attr.name .. "=" .. child.attr.loaded; end
	local report = table.concat(parts, ",");
	if report == last_report then return; end
	last_report = report;
	-- Sent live only, never buffered or replayed: the state of the moment, and every hello
	-- reports it afresh (a replayed older report would undo a newer one).
	if announce and is_ready() then
		local message = st.message({ from = host, to = component }):tag("modules", { xmlns = NS, conflict = conflict });
		for _, child in ipairs(children) do message:add_child(child); end
		ready_session.send(message);
	end
end

local function module_changed(event)
	if WATCHED[event.module] then check_modules(true); end
end
module:hook("module-loaded", module_changed);
module:hook("module-unloaded", module_changed);
check_modules(false);

-- cloud-notify-ping from any other module ---------------------------------------------------
-- module:fire_event("cloud-notify-ping", { user = "alice", push_services = ... }): as with
-- mod_cloud_notify, a push without a stanza to all the user's registrations, or only to those
-- in push_services (mod_cloud_notify's push store shape: identifier "jid<node" → { jid, node }).

module:hook("cloud-notify-ping", function(event)
	local user = event.user;
	if type(user) ~= "string" or user == "" then return; end
	local services = event.push_services;
	if type(services) ~= "table" then
		emit("ping", { user = user, all = "true" });
		return;
	end
	local children = {};
	for identifier, info in pairs(services) do
		local attrs = { xmlns = NS };
		if type(identifier) == "string" then attrs.identifier = identifier; end
		if type(info) == "table" then
			attrs.jid = type(info.jid) == "string" and info.jid or nil;
			attrs.node = type(info.node) == "string" and info.node or nil;
		end
		if attrs.identifier or attrs.jid then children[#children + 1] = st.stanza("endpoint", attrs); end
	end
	if #children == 0 then return; end -- an empty list pushes to nobody (as mod_cloud_notify)
	emit("ping", { user = user }, children);
end, 1);

log_line("info", "Bridge to %s loaded (epoch %s)", component, epoch);
