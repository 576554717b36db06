// A job's page: retry (dead jobs), cancel (pending or running) and delete, with the session's
// CSRF token.
"use strict";

(() => {
  const card = document.querySelector("[data-job-id]");
  const id = card.dataset.jobId;
  const result = document.getElementById("action-result");

  async function act(method, path, done) {
    try {
      const body = await Q.api(method, path);
      done(body);
    } catch (error) {
      result.textContent = error.message;
      result.className = "error";
    }
  }

  const retry = document.getElementById("retry");
  if (retry) {
    retry.addEventListener("click", () => act("POST", `/dashboard/api/jobs/${id}/retry`, () => {
      window.location.reload();
    }));
  }
  const cancel = document.getElementById("cancel");
  if (cancel) {
    cancel.addEventListener("click", () => {
      if (!window.confirm("Cancel this job? A running job is stopped by its worker.")) return;
      act("POST", `/dashboard/api/jobs/${id}/cancel`, () => window.location.reload());
    });
  }
  const remove = document.getElementById("delete");
  if (remove) {
    remove.addEventListener("click", () => {
      if (!window.confirm("Delete this job for good?")) return;
      act("DELETE", `/dashboard/api/jobs/${id}`, () => window.location.assign("/dashboard"));
    });
  }
})();
