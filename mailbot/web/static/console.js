// mailbot console: small enhancements only; every page works without this file.
// Forms marked data-confirm ask before they are sent (reject, revoke).
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
