// The lead form, enhanced: sent to POST /api/leads/submit/ without leaving the page, its errors shown beside the
// fields, then on to the thank-you page. Without this script the form posts to its own page and works the same.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("lead-form");
  if (!form || !window.fetch) {
    return;
  }
  const general = document.getElementById("lead-form-errors");
  const button = form.querySelector("button[type=submit]");

  function clearErrors() {
    general.hidden = true;
    general.replaceChildren();
    for (const list of form.querySelectorAll("ul.errors")) {
      list.replaceChildren();
    }
    for (const input of form.querySelectorAll("[aria-invalid]")) {
      input.removeAttribute("aria-invalid");
    }
  }

  function showGeneral(message) {
    const paragraph = document.createElement("p");
    paragraph.textContent = message;
    general.append(paragraph);
    general.hidden = false;
  }

  function showErrors(body) {
    let shown = false;
    for (const [name, messages] of Object.entries(body)) {
      if (!Array.isArray(messages)) {
        continue;
      }
      const list = document.getElementById(`${name}-errors`);
      for (const message of messages) {
        if (list) {
          const item = document.createElement("li");
          item.textContent = message;
          list.append(item);
          form.elements[name].setAttribute("aria-invalid", "true");
        } else {
          showGeneral(message);
        }
        shown = true;
      }
    }
    if (!shown) {
      showGeneral(body.detail || "The form could not be sent. Try again.");
    }
  }

  // A Turnstile token is spent once Cloudflare has seen it: after its refusal (or a failure on the way) the widget
  // needs a new one, or every further try fails the same. Field errors come before Turnstile and keep the token.
  function resetChallenge() {
    if (window.turnstile) {
      window.turnstile.reset();
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    button.disabled = true;
    try {
      const response = await fetch(form.dataset.api, {
        method: "POST",
        headers: { Accept: "application/json" },
        body: new URLSearchParams(new FormData(form)),
      });
      // Read whole before leaving the page: a navigation would abort the answer's body half read.
      const body = await response.json().catch(() => ({}));
      if (response.ok) {
        window.location.assign(form.dataset.thanks);
        return;
      }
      showErrors(body);
      if (String(body.error_code || "").startsWith("turnstile")) {
        resetChallenge();
      }
    } catch {
      showGeneral("The form could not be sent: check your connection and try again.");
      resetChallenge();
    } finally {
      button.disabled = false;
    }
  });
});
