-- Argo CD health of a vpcgate.dev GatewayEndpoint (Lua 5.1, as gopher-lua runs it).
--
-- Healthy:     Ready is True and the status describes the current spec
--              (status.observedGeneration == metadata.generation).
-- Progressing: no status yet, a status for an older generation, no Ready condition yet, Ready
--              Unknown, or Ready False with a reason the controller works through by itself
--              (creation, routes being added, throttling, AWS or API server hiccups, deletion).
-- Degraded:    Ready False with a reason that needs a human (permissions, a missing VPC, route
--              table or subnet, an invalid spec, a route table taken by another endpoint, an
--              endpoint limit, DynamoDB unreachable through the endpoint), or with a reason this
--              script does not know: a new failure is shown, not hidden.
-- The message is the Ready condition's message.
local hs = {}

local progressing_reasons = {
  Creating = true,
  ProbePending = true,
  RoutesMissing = true,
  RoutesSettling = true,
  OutOfSync = true,
  Throttled = true,
  AwsUnreachable = true,
  AwsError = true,
  IdempotentParameterMismatch = true,
  NotFound = true,
  KubernetesApiError = true,
  FinalizerError = true,
  Deleting = true
}

local degraded_reasons = {
  AccessDenied = true,
  AccessDeniedByIam = true,
  AccessDeniedByEndpointPolicy = true,
  RouteTableConflict = true,
  Conflict = true,
  VpcNotFound = true,
  RouteTableNotFound = true,
  SubnetNotFound = true,
  NoRouteTables = true,
  InvalidSpec = true,
  InvalidParameter = true,
  ServiceNotAvailable = true,
  EndpointLimitExceeded = true,
  EndpointFailed = true,
  PolicyNotConverging = true,
  TableNotFound = true,
  ProbeTimeout = true,
  ProbeFailed = true,
  DnsFailure = true
}

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for vpcgate to report status"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  if observed == nil then
    hs.message = "Waiting for vpcgate to observe generation " .. tostring(generation)
  else
    hs.message = "Waiting for vpcgate to observe generation " .. tostring(generation) ..
      " (status is for generation " .. tostring(observed) .. ")"
  end
  return hs
end

local ready = nil
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    end
  end
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

local reason = ready.reason or ""
local message = ready.message
if message == nil or message == "" then
  if reason ~= "" then
    message = "Ready is " .. tostring(ready.status) .. ": " .. reason
  else
    message = "Ready is " .. tostring(ready.status)
  end
end
hs.message = message

if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" and degraded_reasons[reason] then
  hs.status = "Degraded"
elseif ready.status == "False" and progressing_reasons[reason] then
  hs.status = "Progressing"
elseif ready.status == "False" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
return hs
