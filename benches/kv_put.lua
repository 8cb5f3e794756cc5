-- One wrk script for both KV stores: every request writes a fresh key (thread id + counter)
-- with the same 16-byte value.
--   wrk ... -s benches/kv_put.lua URL -- gateway   PUT /kv/<key>, body = value (wirelab)
--   wrk ... -s benches/kv_put.lua URL -- etcd      POST /v3/kv/put, base64 JSON (etcd v3.4)
local b64chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local function b64(data)
  return ((data:gsub('.', function(x)
    local r, byte = '', x:byte()
    for i = 8, 1, -1 do r = r .. (byte % 2 ^ i - byte % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#data % 3 + 1])
end

local threads = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local mode, counter, value = "gateway", 0, "vvvvvvvvvvvvvvvv"
local value64 = b64(value)
init = function(args)
  mode = args[1] or "gateway"
  wrk.headers["Content-Type"] = mode == "etcd" and "application/json" or "application/octet-stream"
  -- wirelab's gateway needs the run's client token (RUN_DIR/pki/client.token).
  local token = os.getenv("KV_TOKEN")
  if mode == "gateway" and token then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

request = function()
  counter = counter + 1
  local key = "bench-" .. (tid or 0) .. "-" .. counter
  if mode == "etcd" then
    return wrk.format("POST", "/v3/kv/put", nil,
      '{"key":"' .. b64(key) .. '","value":"' .. value64 .. '"}')
  end
  return wrk.format("PUT", "/kv/" .. key, nil, value)
end

dofile(os.getenv("WRK_REPORT") or "benches/wrk_report.lua")
