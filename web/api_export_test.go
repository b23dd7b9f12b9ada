package web

// APIRoutes lists the JSON API's routes as "METHOD /pattern", the way
// the mux registers them: the OpenAPI test holds openapi.json to it.
func APIRoutes() []string {
	var out []string
	for _, rt := range (&apiServer{}).table() {
		out = append(out, rt.method+" "+rt.pattern)
	}
	return out
}

// OpenAPIJSON is the embedded OpenAPI description.
func OpenAPIJSON() []byte { return openAPIJSON }
