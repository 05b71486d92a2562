-- Wireshark dissector for IMIP, the instant messaging protocol of the IMUnified coalition
-- (2000-2002), as imipd speaks it: docs/protocol.md. Usage and fields: docs/wireshark.md.
--
-- A block is a type line, a size line, then exactly <size> bytes of headers, an optional
-- empty line and a body. The size line has a variable length, so the dissector finds the
-- blocks itself and asks TCP for more bytes (pinfo.desegment_offset / desegment_len) when a
-- block is not complete yet.
--
-- Valid Lua 5.2 (Wireshark 4.0/4.2) and Lua 5.4 (Wireshark 4.4+): no integer division,
-- no bitwise operators, no integer-only library functions.

local imip = Proto("imip", "IMIP")

local DEFAULT_PORT = 11319

-- The verbs of docs/protocol.md §2.1 (the heuristic looks for one of them).
local VERBS = {
    HELO = true, LOGN = true, STAT = true, LIST = true,
    MESG = true, PING = true, DISC = true, ACK = true,
}

-- The status codes of docs/protocol.md §9.
local STATUS = {
    [600] = "OK",
    [601] = "Accepted; delivered when the recipient is (visibly) online",
    [800] = "Malformed block",
    [801] = "Unknown block type",
    [802] = "Not allowed in this state",
    [803] = "Missing or invalid header or argument",
    [810] = "Unsupported protocol version",
    [811] = "Login failed: wrong user or password",
    [812] = "Too many failed logins",
    [813] = "Unsupported Auth-Type",
    [820] = "No such user",
    [821] = "Not permitted by the server's policy",
    [822] = "Request declined",
    [830] = "Rate limited: slow down",
    [850] = "Block or body too large",
    [890] = "Server error: nothing was accepted, try again",
}

local f = {
    verb = ProtoField.string("imip.verb", "Verb"),
    args = ProtoField.string("imip.args", "Arguments"),
    status = ProtoField.uint32("imip.status", "Status", base.DEC, STATUS),
    size = ProtoField.uint32("imip.size", "Size", base.DEC),
    header = ProtoField.string("imip.header", "Header"),
    header_name = ProtoField.string("imip.header.name", "Name"),
    header_value = ProtoField.string("imip.header.value", "Value"),
    id = ProtoField.uint32("imip.id", "ID", base.DEC),
    reference = ProtoField.uint32("imip.reference", "Reference", base.DEC),
    from = ProtoField.string("imip.from", "From"),
    to = ProtoField.string("imip.to", "To"),
    body = ProtoField.string("imip.body", "Body"),
}
imip.fields = {
    f.verb, f.args, f.status, f.size, f.header, f.header_name, f.header_value,
    f.id, f.reference, f.from, f.to, f.body,
}

local ex = {
    malformed = ProtoExpert.new("imip.malformed", "Malformed IMIP block",
                                expert.group.MALFORMED, expert.severity.ERROR),
    bad_header = ProtoExpert.new("imip.bad_header", "Malformed IMIP header line",
                                 expert.group.MALFORMED, expert.severity.ERROR),
    bad_number = ProtoExpert.new("imip.bad_number", "IMIP header is not a decimal number",
                                 expert.group.PROTOCOL, expert.severity.WARN),
    incomplete = ProtoExpert.new("imip.incomplete", "Incomplete IMIP block",
                                 expert.group.REASSEMBLE, expert.severity.NOTE),
}
imip.experts = { ex.malformed, ex.bad_header, ex.bad_number, ex.incomplete }

imip.prefs.port = Pref.uint("TCP port", DEFAULT_PORT, "The TCP port of IMIP (11319)")
imip.prefs.heuristic = Pref.bool("Find IMIP on other ports", false,
    "Try the heuristic dissector on TCP connections of other ports: a payload that starts "
    .. "with an IMIP verb, a type line and a size line")
imip.prefs.max_block_size = Pref.uint("Block-size limit", 65536,
    "A larger size line loses the framing (the server's block_size limit, docs/protocol.md §3.2)")
imip.prefs.max_type_line = Pref.uint("Type-line limit", 1024,
    "A longer type line loses the framing (the server's type line limit, docs/protocol.md §3.2)")

local data_dissector = Dissector.get("data")

-- -- helpers -------------------------------------------------------------------------------

local function ascii_upper(text)
    return (text:gsub("[a-z]", function(c) return string.char(c:byte() - 32) end))
end

local function trim(text)
    return (text:gsub("^[ \t]+", ""):gsub("[ \t]+$", ""))
end

-- The value of a string of decimal digits, or nil when it is not one or does not fit in
-- 32 bits (leading zeros are fine, as for the size line).
local function uint32_of(text)
    if text == "" or text:find("[^0-9]") then
        return nil
    end
    local digits = text:gsub("^0+", "")
    if #digits > 10 then
        return nil
    end
    local value = tonumber(digits == "" and "0" or digits)
    if value > 4294967295 then
        return nil
    end
    return value
end

-- -- parsing (no tree work, so that a block still incomplete adds nothing) -----------------
--
-- parse(s, pos) reads the block of the Lua string s that starts at index pos. Positions
-- are indexes into s (1-based). It returns one of
--   { kind = "need", more = n }         n more bytes (or DESEGMENT_ONE_MORE_SEGMENT)
--   { kind = "block", ... }             a whole block, which ends at index stop
--   { kind = "lost", reason = text, ... } framing lost: where the next block starts is unknown

local function line_end(s, from)
    -- the index of the LF ending the line that starts at from, and the index of the line's
    -- last content byte (CR LF and a bare LF both end a line, docs/protocol.md §3.1)
    local lf = s:find("\n", from, true)
    if not lf then
        return nil
    end
    local last = lf - 1
    if last >= from and s:byte(last) == 13 then
        last = last - 1
    end
    return lf, last
end

local function parse(s, pos)
    local n = #s
    local block = { kind = "block", start = pos }

    -- empty lines before a type line are ignored (docs/protocol.md §2.3)
    while true do
        if s:sub(pos, pos + 1) == "\r\n" then
            pos = pos + 2
        elseif s:sub(pos, pos) == "\n" then
            pos = pos + 1
        elseif pos == n and s:sub(pos, pos) == "\r" then
            return { kind = "need", more = DESEGMENT_ONE_MORE_SEGMENT }
        else
            break
        end
    end
    if pos > n then
        return { kind = "need", more = DESEGMENT_ONE_MORE_SEGMENT }
    end

    -- type line
    local type_limit = imip.prefs.max_type_line
    local lf, last = line_end(s, pos)
    if not lf then
        if n - pos + 1 > type_limit + 1 then
            return { kind = "lost", start = block.start, at = pos,
                     reason = string.format("type line longer than %d bytes", type_limit) }
        end
        return { kind = "need", more = DESEGMENT_ONE_MORE_SEGMENT }
    end
    if last - pos + 1 > type_limit then
        return { kind = "lost", start = block.start, at = pos,
                 reason = string.format("type line longer than %d bytes", type_limit) }
    end
    block.type_first, block.type_last = pos, last
    local type_line = s:sub(pos, last)
    local verb_at, verb_end = type_line:find("[^ ]+")
    if verb_at then  -- a type line of spaces alone has no verb
        block.verb_first, block.verb_last = pos + verb_at - 1, pos + verb_end - 1
        local args_at = type_line:find("[^ ]", verb_end + 1)
        if args_at then
            block.args_first = pos + args_at - 1
            block.args_last = pos + #(type_line:gsub(" +$", "")) - 1
        end
    end
    pos = lf + 1

    -- size line
    local size_limit = imip.prefs.max_block_size
    lf, last = line_end(s, pos)
    local size_text = lf and s:sub(pos, last) or s:sub(pos):gsub("\r$", "")
    if size_text:find("[^0-9]") or (lf and size_text == "") then
        return { kind = "lost", start = block.start, at = pos, type_known = true,
                 block = block, reason = "size line is not a decimal number" }
    end
    local size = uint32_of(size_text)
    if size_text ~= "" and (size == nil or size > size_limit) then
        -- known as soon as the digits read so far are too many, line end or not
        return { kind = "lost", start = block.start, at = pos, type_known = true,
                 block = block,
                 reason = string.format("size over the block-size limit of %d bytes", size_limit) }
    end
    if not lf then
        return { kind = "need", more = DESEGMENT_ONE_MORE_SEGMENT }
    end
    block.size, block.size_first, block.size_last = size, pos, last
    pos = lf + 1

    -- content: exactly size bytes
    local stop = pos + size - 1
    if stop > n then
        return { kind = "need", more = stop - n }
    end
    block.stop = stop
    block.headers = {}
    while pos <= stop do
        if s:sub(pos, math.min(pos + 1, stop)) == "\r\n" or s:sub(pos, pos) == "\n" then
            -- the empty line; the body is the rest
            local body_first = pos + ((s:byte(pos) == 13) and 2 or 1)
            if body_first <= stop then
                block.body_first = body_first
            end
            break
        end
        lf, last = line_end(s:sub(1, stop), pos)
        if not lf then
            return { kind = "lost", start = block.start, at = pos, type_known = true,
                     size_known = true, block = block,
                     reason = "the size ends inside a header line" }
        end
        table.insert(block.headers, { first = pos, last = last, lf = lf })
        pos = lf + 1
    end
    return block
end

-- -- tree ---------------------------------------------------------------------------------

-- A TvbRange for indexes first..last of the string, or nil when that is empty.
local function range_of(tvb, first, last)
    if last < first then
        return nil
    end
    return tvb(first - 1, last - first + 1)
end

local function add_text(tree, field, tvb, first, last)
    local r = range_of(tvb, first, last)
    if r then
        return (tree:add_packet_field(field, r, ENC_UTF_8))
    end
end

local NUMBER_HEADERS = { ID = "id", REFERENCE = "reference" }
local TEXT_HEADERS = { FROM = "from", TO = "to" }

-- Adds the type line's items; returns the summary for the Info column.
local function add_type_line(tree, tvb, s, block)
    if not block.verb_first then
        block.verb = ""
        return "[No verb]"
    end
    local verb = ascii_upper(s:sub(block.verb_first, block.verb_last))
    tree:add(f.verb, range_of(tvb, block.verb_first, block.verb_last), verb)
    local summary = verb
    if block.args_first then
        local args = s:sub(block.args_first, block.args_last):gsub(" +", " ")
        add_text(tree, f.args, tvb, block.args_first, block.args_last)
        summary = summary .. " " .. args
        if verb == "ACK" then
            local code_text = args:match("^[^ ]+")
            local code = uint32_of(code_text)
            if code then
                tree:add(f.status, range_of(tvb, block.args_first,
                                            block.args_first + #code_text - 1), code)
                block.status = code
            end
        end
    end
    block.verb = verb
    return summary
end

local function add_block(tree, tvb, s, block)
    local item = tree:add(imip, range_of(tvb, block.start, block.stop))
    local summary = add_type_line(item, tvb, s, block)
    item:add(f.size, range_of(tvb, block.size_first, block.size_last), block.size)
    local reference, bad_header
    for _, h in ipairs(block.headers) do
        local hr = range_of(tvb, h.first, h.last)
        local line = s:sub(h.first, h.last)
        local hitem = item:add_packet_field(f.header, hr, ENC_UTF_8)
        local colon = line:find(":", 1, true)
        if not colon or colon == 1 then
            bad_header = true
            hitem:add_proto_expert_info(ex.bad_header, colon
                and "Header line with an empty name (the server answers ACK 800)"
                or "Header line without a colon (the server answers ACK 800)")
        else
            local name = line:sub(1, colon - 1)
            add_text(hitem, f.header_name, tvb, h.first, h.first + colon - 2)
            local value_first = h.first + colon
            local value_last = h.last
            while value_first <= value_last and s:sub(value_first, value_first):find("[ \t]") do
                value_first = value_first + 1
            end
            while value_last >= value_first and s:sub(value_last, value_last):find("[ \t]") do
                value_last = value_last - 1
            end
            add_text(hitem, f.header_value, tvb, value_first, value_last)
            local key = ascii_upper(trim(name))
            local value = s:sub(value_first, value_last)
            if NUMBER_HEADERS[key] then
                local number = uint32_of(value)
                local vr = range_of(tvb, value_first, value_last) or hr
                if number then
                    hitem:add(f[NUMBER_HEADERS[key]], vr, number)
                    if key == "REFERENCE" then
                        reference = number
                    end
                else
                    hitem:add_proto_expert_info(ex.bad_number, trim(name)
                        .. " is not a decimal number (the server answers ACK 803)")
                end
            elseif TEXT_HEADERS[key] then
                add_text(hitem, f[TEXT_HEADERS[key]], tvb, value_first, value_last)
            end
        end
    end
    if block.body_first then
        add_text(item, f.body, tvb, block.body_first, block.stop)
    end
    if block.verb == "ACK" and reference then
        summary = summary .. " (Reference " .. reference .. ")"
    end
    if bad_header then
        summary = summary .. " [Malformed header line]"
    end
    item:append_text(": " .. summary)
    return summary
end

-- What could be read of a block whose framing is lost, then the rest as data.
local function add_lost(tree, tvb, pinfo, s, lost)
    local n = #s
    local summary = "[Malformed: " .. lost.reason .. "]"
    local read_last = lost.at - 1
    local item = tree:add(imip, range_of(tvb, lost.start, n))
    if lost.type_known then
        summary = add_type_line(item, tvb, s, lost.block) .. " " .. summary
    end
    if lost.size_known then
        local b = lost.block
        item:add(f.size, range_of(tvb, b.size_first, b.size_last), b.size)
    end
    item:add_proto_expert_info(ex.malformed, "Malformed IMIP block: " .. lost.reason
        .. "; where the next block starts is unknown (the server answers ACK 800 or 850"
        .. " and closes the connection)")
    item:append_text(": " .. summary)
    if read_last < n then
        data_dissector:call(tvb(read_last):tvb(), pinfo, tree)
    end
    return summary
end

-- -- dissector ------------------------------------------------------------------------------

local function dissect(tvb, pinfo, tree)
    local n = tvb:len()
    if n == 0 then
        return 0
    end
    local s = tvb:raw(0, n)
    local pos = 1
    local summaries = {}
    while pos <= n do
        local result = parse(s, pos)
        if result.kind == "need" then
            if pinfo.can_desegment > 0 then
                pinfo.desegment_offset = pos - 1
                pinfo.desegment_len = result.more
            else
                local item = tree:add(imip, range_of(tvb, pos, n))
                item:add_proto_expert_info(ex.incomplete,
                    "Incomplete IMIP block (TCP reassembly is off)")
                item:append_text(": [Incomplete block]")
                table.insert(summaries, "[Incomplete block]")
                data_dissector:call(tvb(pos - 1):tvb(), pinfo, tree)
            end
            break
        elseif result.kind == "lost" then
            table.insert(summaries, add_lost(tree, tvb, pinfo, s, result))
            break
        end
        table.insert(summaries, add_block(tree, tvb, s, result))
        pos = result.stop + 1
    end
    if #summaries > 0 then
        local text = table.concat(summaries, ", ")
        -- TCP may call the dissector twice for one frame (the end of a reassembled block,
        -- then the blocks after it): the second call continues the first one's text.
        if tostring(pinfo.cols.protocol) == "IMIP" then
            pinfo.cols.info:append(", " .. text)
        else
            pinfo.cols.protocol:set("IMIP")
            pinfo.cols.info:set(text)
        end
    end
    return n
end

imip.dissector = dissect

-- -- heuristic for other ports ------------------------------------------------------------

local function heuristic(tvb, pinfo, tree)
    if not imip.prefs.heuristic then
        return false
    end
    local n = tvb:len()
    local s = tvb:raw(0, math.min(n, imip.prefs.max_type_line + 32))
    local verb = s:match("^(%a+)[ \r\n]")
    if not verb or not VERBS[ascii_upper(verb)] then
        return false
    end
    local lf = s:find("\n", 1, true)
    if not lf or not s:find("^%d+\r?\n", lf + 1) then
        return false
    end
    -- the rest of the connection goes to IMIP without asking again
    pcall(function() pinfo.conversation = imip end)
    dissect(tvb, pinfo, tree)
    return true
end

imip:register_heuristic("tcp", heuristic)

-- -- registration ---------------------------------------------------------------------------

local tcp_port = DissectorTable.get("tcp.port")
local registered_port = 0

local function register_port()
    if registered_port ~= 0 then
        tcp_port:remove(registered_port, imip)
    end
    registered_port = imip.prefs.port
    if registered_port ~= 0 then
        tcp_port:add(registered_port, imip)
    end
end

function imip.prefs_changed()
    if imip.prefs.port ~= registered_port then
        register_port()
    end
end

register_port()
