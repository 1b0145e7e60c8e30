// Starts Swagger UI on the API docs page; same-origin requests carry the session cookie + CSRF token.
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  if (!node || !window.SwaggerUIBundle) { return; }
  var csrf = node.dataset.csrfToken;
  window.SwaggerUIBundle({
    url: node.dataset.schemaUrl,
    domNode: node,
    deepLinking: true,
    tryItOutEnabled: true,
    requestInterceptor: function (request) {
      request.headers["X-CSRFToken"] = csrf;
      return request;
    },
  });
})();
