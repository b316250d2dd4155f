{{/* Names and labels, as `helm create` writes them. */}}

{{- define "veil.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "veil.fullname" -}}
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

{{- define "veil.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "veil.labels" -}}
helm.sh/chart: {{ include "veil.chart" . }}
{{ include "veil.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "veil.selectorLabels" -}}
app.kubernetes.io/name: {{ include "veil.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "veil.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "veil.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the auth file: the user's, or the one this chart writes. */}}
{{- define "veil.authSecretName" -}}
{{- default (printf "%s-auth" (include "veil.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/* The ConfigMap holding the policy file, empty when there is none. */}}
{{- define "veil.policyConfigMapName" -}}
{{- if .Values.policyFile.existingConfigMap }}
{{- .Values.policyFile.existingConfigMap }}
{{- else if .Values.policyFile.content }}
{{- printf "%s-policy" (include "veil.fullname" .) }}
{{- end }}
{{- end }}

{{/* The auth file written from `auth.tokens`: digests only, a token in the clear is refused. */}}
{{- define "veil.authFile" -}}
{{- $tokens := list }}
{{- range $index, $entry := .Values.auth.tokens }}
{{- if hasKey $entry "token" }}
{{- fail (printf "auth.tokens[%d] (%s): give `token_sha256`, not `token`: a token does not belong in values (or use auth.existingSecret)" $index (toString $entry.name)) }}
{{- end }}
{{- if not $entry.name }}
{{- fail (printf "auth.tokens[%d]: `name` is required" $index) }}
{{- end }}
{{- if not (regexMatch "^[0-9a-f]{64}$" (toString $entry.token_sha256)) }}
{{- fail (printf "auth.tokens[%d] (%s): `token_sha256` must be 64 lowercase hex digits" $index $entry.name) }}
{{- end }}
{{- $tokens = append $tokens $entry }}
{{- end }}
{{- dict "tokens" $tokens | toYaml }}
{{- end }}

{{/* The address the test pod and NOTES give: the Service inside the cluster. */}}
{{- define "veil.address" -}}
{{- printf "%s.%s.svc:%d" (include "veil.fullname" .) .Release.Namespace (int .Values.server.port) }}
{{- end }}
