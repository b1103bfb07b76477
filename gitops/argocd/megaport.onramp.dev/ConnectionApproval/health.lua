-- Argo CD health of a megaport.onramp.dev ConnectionApproval (megaport-operator).
--
-- A ConnectionApproval is a person's decision on a connection waiting on a ServiceKeyRequest's
-- key: final once admitted (admission checked who made it). It has no status of its own; the
-- operator sends it once and reports the outcome on the request it names
-- (status.connections). Runs without Lua's string library (argocd-cm scripts get none unless
-- useOpenLibs is set): tables, comparisons and ".." only.
--
--   being deleted   Progressing
--   otherwise       Healthy      the decision, the VXC, the request and who decided
local hs = {}

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted (a decision already sent stays made)"
  return hs
end

local spec = obj.spec or {}
hs.status = "Healthy"
hs.message = (spec.decision or "?") .. " VXC " .. (spec.vxcUid or "?") ..
  " waiting on ServiceKeyRequest " .. (spec.request or "?") .. ", decided by " .. (spec.decidedBy or "?") ..
  " (the request's status.connections shows the outcome)"
return hs
