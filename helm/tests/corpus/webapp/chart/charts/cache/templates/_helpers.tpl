{{- define "cache.fullname" -}}
{{ .Release.Name }}-{{ .Chart.Name }}
{{- end }}
{{- define "webapp.name" -}}
overridden-by-the-parent
{{- end }}
