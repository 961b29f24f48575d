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
