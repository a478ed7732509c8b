// Loads the service's own document; every asset comes from this service (no CDN). validatorUrl: null turns
// off Swagger UI's online validator badge, an image it would otherwise load from validator.swagger.io (with
// this document's address in its query) whenever the page is served from a host other than localhost.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null });
