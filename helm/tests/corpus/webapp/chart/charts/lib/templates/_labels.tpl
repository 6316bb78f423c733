{{- define "lib.commonLabels" -}}
app.kubernetes.io/part-of: {{ .Release.Name }}
chart-root: {{ .Chart.IsRoot | quote }}
{{- end }}
