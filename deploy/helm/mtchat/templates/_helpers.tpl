{{- /*
  Go text/template only: no Sprig or Helm functions (include, toYaml, default, quote, nindent, required ...), so that
  the chart's test renders it without helm (README.md, "The template language"). Nested values are written as
  one-line YAML flow collections by "mtchat.json", so no block depends on indentation.
*/ -}}

{{- define "mtchat.fullname" -}}
{{- if eq .Release.Name .Chart.Name -}}{{ .Release.Name }}{{- else -}}{{ .Release.Name }}-{{ .Chart.Name }}{{- end -}}
{{- end -}}

{{- define "mtchat.secretName" -}}
{{- if .Values.secrets.existingSecret -}}{{ .Values.secrets.existingSecret }}{{- else -}}{{ template "mtchat.fullname" . }}{{- end -}}
{{- end -}}

{{- define "mtchat.serviceAccountName" -}}
{{- if .Values.serviceAccount.name -}}{{ .Values.serviceAccount.name }}{{- else if .Values.serviceAccount.create -}}{{ template "mtchat.fullname" . }}{{- else -}}default{{- end -}}
{{- end -}}

{{- /* The labels every object carries, as the inside of a flow mapping. */ -}}
{{- define "mtchat.labels" -}}
"app.kubernetes.io/name": {{ printf "%q" .Chart.Name }}, "app.kubernetes.io/instance": {{ printf "%q" .Release.Name }}, "app.kubernetes.io/version": {{ printf "%q" .Chart.AppVersion }}, "app.kubernetes.io/managed-by": {{ printf "%q" .Release.Service }}, "helm.sh/chart": {{ printf "%q" (printf "%s-%s" .Chart.Name .Chart.Version) }}
{{- end -}}

{{- /* What selects this release's pods; each Deployment adds its app.kubernetes.io/component. */ -}}
{{- define "mtchat.selectorLabels" -}}
"app.kubernetes.io/name": {{ printf "%q" .Chart.Name }}, "app.kubernetes.io/instance": {{ printf "%q" .Release.Name }}
{{- end -}}

{{- /* Any value as a one-line YAML flow collection or scalar (a toJson of Go templates' own). */ -}}
{{- define "mtchat.json" -}}
{{- $type := printf "%T" . -}}
{{- if eq $type "map[string]interface {}" -}}
{ {{- $first := true -}}{{- range $key, $value := . -}}{{- if not $first }}, {{ end -}}{{- $first = false -}}{{ printf "%q" $key }}: {{ template "mtchat.json" $value }}{{- end -}} }
{{- else if eq $type "[]interface {}" -}}
[ {{- range $index, $value := . -}}{{- if $index }}, {{ end -}}{{ template "mtchat.json" $value }}{{- end -}} ]
{{- else if eq $type "string" -}}
{{ printf "%q" . }}
{{- else if eq $type "<nil>" -}}
null
{{- else -}}
{{ print . }}
{{- end -}}
{{- end -}}

{{- /*
  The environment every pod shares: the ConfigMap, then each key of secrets.values from the Secret (optional unless
  listed in secrets.required). Called with the root context.
*/ -}}
{{- define "mtchat.env" }}
          envFrom:
            - configMapRef:
                name: {{ template "mtchat.fullname" . }}
          env:
            - name: PORT
              value: {{ printf "%q" (print .Values.containerPort) }}
            - name: HOST
              value: "0.0.0.0"
            - name: DATA_DIR
              value: /data
{{- $root := . }}
{{- range $key, $value := .Values.secrets.values }}
{{- $required := false }}
{{- range $root.Values.secrets.required }}{{ if eq . $key }}{{ $required = true }}{{ end }}{{ end }}
            - name: {{ $key }}
              valueFrom:
                secretKeyRef:
                  name: {{ template "mtchat.secretName" $root }}
                  key: {{ $key }}
                  optional: {{ not $required }}
{{- end }}
{{- end -}}

{{- /* Pod-level settings shared by every Deployment (after `spec:` of the pod template). */ -}}
{{- define "mtchat.podCommon" }}
      serviceAccountName: {{ template "mtchat.serviceAccountName" . }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      securityContext: {{ template "mtchat.json" .Values.podSecurityContext }}
      imagePullSecrets: {{ template "mtchat.json" .Values.imagePullSecrets }}
      volumes:
        - name: data
{{- if .Values.persistence.existingClaim }}
          persistentVolumeClaim:
            claimName: {{ .Values.persistence.existingClaim }}
{{- else }}
          emptyDir: {}
{{- end }}
        # readOnlyRootFilesystem: scratch space for libraries that write temporary files.
        - name: tmp
          emptyDir: {}
{{- end -}}
