// Optional progressive enhancement for the mxconf form; the page works the same without it.
// The profile download itself stays an ordinary form navigation: Safari on iOS hands the
// response to Settings only then, never for a JavaScript-made download (docs/protocols.md,
// "Safari hands profiles to Settings").
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // iPadOS 13+ sends a Mac User-Agent, so the server shows both Mac and iPad steps;
  // a Mac has no touch screen, an iPad does.
  var mac = document.getElementById("steps-mac");
  var ipad = document.getElementById("steps-ipad");
  if (mac && ipad) {
    if (navigator.maxTouchPoints > 0) { mac.hidden = true; } else { ipad.hidden = true; }
  }

  // Show the browser's refusal in the page too (the native bubble vanishes quickly on phones).
  var email = document.getElementById("email");
  var box = document.getElementById("form-error");
  if (!email || !box) { return; }
  email.addEventListener("invalid", function () {
    box.textContent = box.getAttribute("data-invalid");
    box.hidden = false;
    email.setAttribute("aria-invalid", "true");
    email.setAttribute("aria-describedby", "form-error");
  });
  email.addEventListener("input", function () {
    if (email.validity.valid) { email.removeAttribute("aria-invalid"); }
  });
}());
