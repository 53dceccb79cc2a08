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
    } catch {
      showGeneral("The form could not be sent: check your connection and try again.");
    } finally {
      button.disabled = false;
    }
  });
});
