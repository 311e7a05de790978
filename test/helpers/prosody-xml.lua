-- Parses XML documents with Prosody's own parser (util.xml over lxp/expat), for the XML round-trip
-- property test (test/xmpp/render-roundtrip.test.ts via test/helpers/prosody-xml.ts).
-- Input on stdin, repeated: a line with the document's length in bytes, then that many bytes.
-- Output, one line per document: `OK <tree>` or `ERR <hex of the error>`, where <tree> is JSON:
-- {"n":hex(name),"a":[[hex(key),hex(value)],…sorted by key],"c":[hex(text) | <tree>,…]}.
-- Every string is hex-encoded UTF-8, so the caller compares bytes exactly.
local prosody_lib = arg[1] or "/usr/lib/prosody"
package.path = prosody_lib .. "/?.lua;" .. package.path
package.cpath = prosody_lib .. "/?.so;" .. package.cpath

local xml = require "util.xml"

local HEX = {}
for b = 0, 255 do HEX[string.char(b)] = string.format("%02x", b) end
local function hex(s)
	return (s:gsub(".", HEX))
end

local function tree(el)
	local keys = {}
	for k in pairs(el.attr) do keys[#keys + 1] = k end
	table.sort(keys)
	local attrs = {}
	for _, k in ipairs(keys) do attrs[#attrs + 1] = '["' .. hex(k) .. '","' .. hex(el.attr[k]) .. '"]' end
	local children = {}
	for _, child in ipairs(el) do
		if type(child) == "string" then
			children[#children + 1] = '"' .. hex(child) .. '"'
		else
			children[#children + 1] = tree(child)
		end
	end
	return '{"n":"' .. hex(el.name) .. '","a":[' .. table.concat(attrs, ",") .. '],"c":[' .. table.concat(children, ",") .. ']}'
end

while true do
	local header = io.read("l")
	if header == nil then break end
	local length = tonumber(header)
	if length == nil then
		io.write("ERR ", hex("bad length line: " .. header), "\n")
		io.flush()
		break
	end
	local doc = length == 0 and "" or io.read(length)
	local ok, parsed, err = pcall(xml.parse, doc or "")
	if not ok then
		io.write("ERR ", hex(tostring(parsed)), "\n")
	elseif parsed == nil then
		io.write("ERR ", hex(tostring(err)), "\n")
	else
		io.write("OK ", tree(parsed), "\n")
	end
	io.flush()
end
