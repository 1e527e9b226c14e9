{{/* Names and labels shared by every template. */}}

{{- define "memoturn.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "memoturn.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "memoturn.selectorLabels" -}}
app.kubernetes.io/name: {{ include "memoturn.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "memoturn.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "memoturn.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "memoturn.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "memoturn.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the S3 key pair: an existing one, the chart's, or none (ambient). */}}
{{- define "memoturn.s3SecretName" -}}
{{- if .Values.objectStore.credentials.existingSecret -}}
{{- .Values.objectStore.credentials.existingSecret -}}
{{- else if .Values.objectStore.credentials.accessKeyId -}}
{{- printf "%s-s3" (include "memoturn.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the signing key: an existing one, the chart's, or none (the store's). */}}
{{- define "memoturn.signingSecretName" -}}
{{- if .Values.signingKey.existingSecret -}}
{{- .Values.signingKey.existingSecret -}}
{{- else if .Values.signingKey.value -}}
{{- printf "%s-signing-key" (include "memoturn.fullname" .) -}}
{{- end -}}
{{- end -}}
