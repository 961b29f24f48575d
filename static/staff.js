// Progressive enhancement for staff pages; every page works without it.
// Ask before actions that tell the reporter or close an incident.
document.addEventListener("submit", function (e) {
  var form = e.target;
  var action = form.querySelector("input[name=action]");
  if (!action) return;
  var ask = { reject: "Reject this incident? The reporter will see the statement of reasons.",
              verify_pass: "Mark the fix verified and resolve the incident? The reporter will be told.",
              merge: "Merge this incident into the other one?" }[action.value];
  if (ask && !window.confirm(ask)) e.preventDefault();
});

// On a phone the board's filters fold away unless some are set (the summary opens them).
document.addEventListener("DOMContentLoaded", function () {
  var box = document.querySelector("details.filters-box");
  if (box && window.matchMedia("(max-width: 40em)").matches &&
      !/[?&](q|state|category|severity|assignee|overdue)=[^&]/.test(location.search)) {
    box.open = false;
  }
  // A refusal's summary takes the focus, so it is read first.
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});
