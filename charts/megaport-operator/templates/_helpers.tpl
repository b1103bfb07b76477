{{/* Names ----------------------------------------------------------------------------------- */}}

{{- define "megaport-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-megaport-operator, or the release name when it already contains the chart name. */}}
{{- define "megaport-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "megaport-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "megaport-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "megaport-operator.leaseName" -}}
{{- default (include "megaport-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "megaport-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Labels ---------------------------------------------------------------------------------- */}}

{{- define "megaport-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "megaport-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Every object's labels. (Not the operator's own app.kubernetes.io/managed-by=megaport-operator:
     that marks the Secrets it writes, and is never on what the chart installs.) */}}
{{- define "megaport-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "megaport-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: megaport-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Credentials ----------------------------------------------------------------------------- */}}

{{/* Whether the chart creates the credentials Secret; fails on a half or double configuration. */}}
{{- define "megaport-operator.createCredentials" -}}
{{- $c := .Values.megaport.credentials }}
{{- if $c.existingSecret }}
{{- if or $c.accessKey $c.secretKey }}
{{- fail "megaport.credentials: set either existingSecret or accessKey and secretKey, not both" }}
{{- end }}
{{- else if and $c.accessKey $c.secretKey }}
{{- print "true" }}
{{- else if or $c.accessKey $c.secretKey }}
{{- fail "megaport.credentials: accessKey and secretKey go together" }}
{{- else }}
{{- fail "megaport.credentials: set existingSecret (a Secret in the release namespace with keys accessKey and secretKey) or accessKey and secretKey" }}
{{- end }}
{{- end }}

{{- define "megaport-operator.credentialsSecretName" -}}
{{- if include "megaport-operator.createCredentials" . }}
{{- printf "%s-credentials" (include "megaport-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- .Values.megaport.credentials.existingSecret }}
{{- end }}
{{- end }}

{{/* Checks of values that cut across keys (the schema checks each key on its own). */}}
{{- define "megaport-operator.validate" -}}
{{- $m := .Values.megaport }}
{{- if ne (empty $m.baseUrl) (empty $m.tokenUrl) }}
{{- fail "megaport: baseUrl and tokenUrl go together (both or neither)" }}
{{- end }}
{{- if and (not .Values.leaderElection.enabled) (gt (int .Values.replicas) 1) }}
{{- fail "replicas > 1 needs leaderElection.enabled: two operators without a leader would decide for the same on-ramp at once" }}
{{- end }}
{{- $le := .Values.leaderElection }}
{{- if and $le.enabled (not (and (lt (int $le.retryPeriodSeconds) (int $le.renewDeadlineSeconds)) (lt (int $le.renewDeadlineSeconds) (int $le.leaseDurationSeconds)))) }}
{{- fail "leaderElection: retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds" }}
{{- end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.controller.shutdownGraceSeconds) }}
{{- fail "terminationGracePeriodSeconds must be above controller.shutdownGraceSeconds" }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (eq (kindIs "invalid" $pdb.minAvailable) (kindIs "invalid" $pdb.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set exactly one of minAvailable and maxUnavailable (the other null)" }}
{{- end }}
{{- include "megaport-operator.createCredentials" . }}
{{- end }}
