{{/* Names, labels and shared pod parts of the agent-orchestrator chart. */}}

{{- define "agent-orchestrator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The resource-name prefix; at most 45 characters so that every name derived from it
("<prefix>-gateway", "<prefix>-worker" and the Jobs KEDA names after it) stays within 63. */}}
{{- define "agent-orchestrator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "agent-orchestrator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agent-orchestrator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agent-orchestrator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "agent-orchestrator.labels" -}}
helm.sh/chart: {{ include "agent-orchestrator.chart" . }}
{{ include "agent-orchestrator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: agent-orchestrator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels of one component: (dict "ctx" $ "component" "gateway"). */}}
{{- define "agent-orchestrator.componentLabels" -}}
{{ include "agent-orchestrator.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "agent-orchestrator.componentSelector" -}}
{{ include "agent-orchestrator.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The label selector of worker Jobs and pods, as the gateway's ORCH_KUBERNETES__WORKER_SELECTOR. */}}
{{- define "agent-orchestrator.workerSelector" -}}
{{- printf "app.kubernetes.io/instance=%s,app.kubernetes.io/component=worker" .Release.Name }}
{{- end }}

{{- define "agent-orchestrator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agent-orchestrator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "agent-orchestrator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "agent-orchestrator.gatewayUrl" -}}
{{- printf "http://%s-gateway.%s.svc.cluster.local:%v" (include "agent-orchestrator.fullname" .) .Release.Namespace .Values.gateway.service.port }}
{{- end }}

{{/* One env var from a secret value: (dict "ctx" $ "env" "ORCH_REDIS__URL" "src" .Values.redis
"value" .Values.redis.url "optional" false). The chart's Secret holds it unless
src.existingSecret.name is set. */}}
{{- define "agent-orchestrator.secretEnv" -}}
{{- if .src.existingSecret.name }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .src.existingSecret.name }}
      key: {{ .src.existingSecret.key }}
{{- else if or .value (not .optional) }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "agent-orchestrator.fullname" .ctx }}
      key: {{ .src.existingSecret.key }}
{{- end }}
{{- end }}

{{/* The secret env vars every process gets: Redis, database, Anthropic key. */}}
{{- define "agent-orchestrator.commonSecretEnv" -}}
{{- include "agent-orchestrator.secretEnv" (dict "ctx" . "env" "ORCH_REDIS__URL" "src" .Values.redis "value" .Values.redis.url "optional" false) }}
{{- include "agent-orchestrator.secretEnv" (dict "ctx" . "env" "ORCH_DATABASE__URL" "src" .Values.database "value" .Values.database.url "optional" false) }}
{{- include "agent-orchestrator.secretEnv" (dict "ctx" . "env" "ANTHROPIC_API_KEY" "src" .Values.apiKeys.anthropic "value" .Values.apiKeys.anthropic.value "optional" true) }}
{{- range .Values.mcp.secretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
{{- end }}
{{- end }}

{{/* Volumes and mounts every pod has: /tmp (the root filesystem is read-only) and extras. */}}
{{- define "agent-orchestrator.volumes" -}}
- name: tmp
  emptyDir: {}
{{- if .Values.mcp.servers }}
- name: mcp-config
  configMap:
    name: {{ include "agent-orchestrator.fullname" . }}-mcp
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "agent-orchestrator.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.mcp.servers }}
- name: mcp-config
  mountPath: /etc/orchestrator/mcp
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Checksums that roll the pods when the configuration changes. */}}
{{- define "agent-orchestrator.configChecksum" -}}
checksum/config: {{ include (print .Template.BasePath "/config/configmap.yaml") . | sha256sum }}
{{- if .Values.mcp.servers }}
checksum/mcp: {{ include (print .Template.BasePath "/config/mcp-configmap.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/* The worker pod spec, shared by the ScaledJob (--one-job) and the Deployment:
(dict "ctx" $ "oneJob" true). */}}
{{- define "agent-orchestrator.workerPodSpec" -}}
{{- $ := .ctx -}}
{{- with $.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
serviceAccountName: {{ include "agent-orchestrator.serviceAccountName" $ }}
automountServiceAccountToken: {{ $.Values.worker.automountServiceAccountToken }}
{{- if .oneJob }}
restartPolicy: Never
{{- end }}
terminationGracePeriodSeconds: {{ add (int $.Values.worker.shutdownGraceSeconds) 10 }}
securityContext:
  {{- toYaml $.Values.podSecurityContext | nindent 2 }}
containers:
  - name: worker
    image: {{ include "agent-orchestrator.image" $ }}
    imagePullPolicy: {{ $.Values.image.pullPolicy }}
    args:
      - worker
      {{- if .oneJob }}
      - --one-job
      {{- end }}
    envFrom:
      - configMapRef:
          name: {{ include "agent-orchestrator.fullname" $ }}
    env:
      {{- include "agent-orchestrator.commonSecretEnv" $ | trim | nindent 6 }}
      {{- if not .oneJob }}
      # A restarted container keeps its pod's name: it reclaims its jobs without the lease TTL.
      - name: ORCH_WORKER__ID
        valueFrom:
          fieldRef:
            fieldPath: metadata.name
      {{- end }}
      {{- with $.Values.worker.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    securityContext:
      {{- toYaml $.Values.securityContext | nindent 6 }}
    resources:
      {{- toYaml $.Values.worker.resources | nindent 6 }}
    volumeMounts:
      {{- include "agent-orchestrator.volumeMounts" $ | nindent 6 }}
volumes:
  {{- include "agent-orchestrator.volumes" $ | nindent 2 }}
{{- with $.Values.worker.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.worker.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.worker.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The worker pod template's metadata. */}}
{{- define "agent-orchestrator.workerPodMetadata" -}}
labels:
  {{- include "agent-orchestrator.componentSelector" (dict "ctx" . "component" "worker") | nindent 2 }}
  {{- with .Values.worker.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  {{- include "agent-orchestrator.configChecksum" . | nindent 2 }}
  {{- with .Values.worker.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
