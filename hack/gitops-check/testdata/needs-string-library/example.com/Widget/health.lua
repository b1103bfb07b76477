-- A health script that needs Lua's string library: fine among Argo CD's bundled scripts,
-- broken as an argocd-cm customization (no string library there). gitops-check must fail it
-- in argocd-cm mode; check.sh proves that it does.
local hs = {status = "Progressing", message = "Waiting"}
if obj.status ~= nil and obj.status.phase ~= nil and string.find(obj.status.phase, "Ready") ~= nil then
  hs.status = "Healthy"
  hs.message = obj.status.phase:lower()
end
return hs
