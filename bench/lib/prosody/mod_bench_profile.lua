-- mod_bench_profile: a sampling profiler for Prosody under a benchmark (never for production).
--
-- Every 4999 Lua VM instructions it records the running line and its stack (up to 60 frames)
-- and writes the counts to $BENCH_PROFILE_OUT (default /tmp/prosody-profile.txt) every second
-- and when the server stops. It counts Lua instructions, not time: C work (expat, syscalls,
-- string building inside the VM) is not seen. Loaded by bench/e2e-throughput.ts with
-- BENCH_PROSODY_PROFILE=1; bench/lib/prosody-profile.py sums the stacks by module.

local getinfo = debug.getinfo;
local counts, stacks = {}, {};

local function sample()
	local info = getinfo(2, "Sl");
	if not info then return; end
	local line = info.short_src .. ":" .. (info.currentline or 0);
	counts[line] = (counts[line] or 0) + 1;
	local frames = {};
	for level = 2, 61 do
		local frame = getinfo(level, "Sl");
		if not frame then break; end
		frames[#frames + 1] = frame.short_src:match("[^/]*$") .. ":" .. (frame.currentline or 0);
	end
	local stack = table.concat(frames, " < ");
	stacks[stack] = (stacks[stack] or 0) + 1;
end

local function write_top(file, tally, limit)
	local rows, total = {}, 0;
	for key, n in pairs(tally) do rows[#rows + 1] = { key, n }; total = total + n; end
	table.sort(rows, function(a, b) return a[2] > b[2]; end);
	file:write("total ", total, "\n");
	for i = 1, math.min(limit, #rows) do
		file:write(string.format("%6d %5.1f%% %s\n", rows[i][2], 100 * rows[i][2] / total, rows[i][1]));
	end
end

local function dump()
	local file = io.open(os.getenv("BENCH_PROFILE_OUT") or "/tmp/prosody-profile.txt", "w");
	if not file then return; end
	write_top(file, counts, 60);
	file:write("\n");
	write_top(file, stacks, math.huge);
	file:close();
end

-- The hook is per Lua thread and inherited by coroutines created later: set it from a timer,
-- which runs on the main loop's thread, so that every session's async runner inherits it.
module:add_timer(0.5, function() debug.sethook(sample, "", 4999); end);
-- A file named $BENCH_PROFILE_OUT.reset (made by bench/prosody-cost.ts at the start of its phase)
-- clears the counts, so that a dump holds that phase only.
-- With BENCH_PROFILE_ON_REQUEST=1 the counts are written only when a file $BENCH_PROFILE_OUT.dump
-- appears (removed once written), so that an idle server does no work every second.
local out_file = os.getenv("BENCH_PROFILE_OUT") or "/tmp/prosody-profile.txt";
local reset_file, dump_file = out_file .. ".reset", out_file .. ".dump";
local on_request = os.getenv("BENCH_PROFILE_ON_REQUEST") == "1";
module:add_timer(1, function()
	if os.remove(reset_file) then counts, stacks = {}, {}; end
	if not on_request then
		dump();
	elseif io.open(dump_file) then
		dump();
		os.remove(dump_file);
	end
	return 1;
end);
module:hook_global("server-stopping", dump);
