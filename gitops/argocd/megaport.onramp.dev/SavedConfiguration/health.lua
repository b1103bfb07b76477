-- Argo CD health of a megaport.onramp.dev SavedConfiguration (megaport-operator).
--
-- Reads the operator's status contract: status.observedGeneration, the Ready condition,
-- Reconciling and Stalled (present only while True) and status.phase. Runs without Lua's
-- string library (argocd-cm scripts get none unless useOpenLibs is set): tables, comparisons
-- and ".." only.
--
--   being deleted                           Progressing
--   no status yet, or an older generation   Progressing  the operator has not priced this spec yet
--   Stalled=True                            Degraded     a human must act (invalid design, refused order)
--   Reconciling=True                        Progressing  pricing, ordering, provisioning, retrying
--   Ready=True                              Healthy      phase Quoted (saved and priced) or Live (ordered)
--   Ready=False                             Degraded
--   anything else                           Progressing
local hs = {}

-- The condition of type `wanted`, or nil.
local function find(conditions, wanted)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == wanted then
      return condition
    end
  end
  return nil
end

-- "Reason: message".
local function describe(condition)
  local text = condition.reason or condition.type
  if condition.message ~= nil and condition.message ~= "" then
    text = text .. ": " .. condition.message
  end
  return text
end

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted: the operator applies spec.deletionPolicy to the ordered services, then releases its finalizer"
  return hs
end

local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to price this configuration"
  return hs
end
if obj.metadata.generation ~= nil and status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on generation " .. obj.metadata.generation ..
    " (the status describes generation " .. status.observedGeneration .. ")"
  return hs
end

local ready = find(status.conditions, "Ready")
local stalled = find(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end
local reconciling = find(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling)
  if ready ~= nil and ready.status == "True" then
    hs.message = hs.message .. "; still Ready: " .. describe(ready)
  end
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Waiting for the operator to report Ready"
end
return hs
