-- wrk script: token requests with the client_credentials grant (RFC 6749
-- §4.4), the client authenticated with client_secret_basic (§2.3.1). Load
-- Cedula's token endpoint and J (`cedula bench reference --serve ADDR`) with
-- the same requests; only the URL differs:
--
--   CLIENT_ID=demo-machine-secret CLIENT_SECRET="$(cat data/demo-machine-secret.secret)" \
--     wrk -t2 -c64 -d20s --latency -s internal/bench/wrk/token.lua http://127.0.0.1:8080/oauth/token
--   CLIENT_ID=demo-machine-secret CLIENT_SECRET="$(cat data/demo-machine-secret.secret)" \
--     wrk -t2 -c64 -d20s --latency -s internal/bench/wrk/token.lua http://127.0.0.1:8090/sign
--
-- wrk counts any answer but 2xx/3xx as "Non-2xx or 3xx responses": a run
-- that reports some measured errors, not tokens.

local id = os.getenv("CLIENT_ID") or "demo-machine-secret"
local secret = os.getenv("CLIENT_SECRET")
if secret == nil or secret == "" then
  error("set CLIENT_SECRET to the client's secret (e.g. the contents of data/demo-machine-secret.secret)")
end

-- RFC 6749 §2.3.1: the client ID and secret are form-urlencoded before
-- they are joined for HTTP Basic.
local function formEncode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

-- RFC 4648 §4 base64, which wrk's Lua does not provide.
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = string.byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local quad = {}
    for j = 3, 0, -1 do
      local v = math.floor(n / 64 ^ j) % 64
      quad[#quad + 1] = alphabet:sub(v + 1, v + 1)
    end
    if c == nil then quad[4] = "=" end
    if b == nil then quad[3] = "=" end
    out[#out + 1] = table.concat(quad)
  end
  return table.concat(out)
end

wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = "Basic " .. base64(formEncode(id) .. ":" .. formEncode(secret))
