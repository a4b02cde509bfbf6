// The login form keeps the name after a failed try (the server answers with the form again,
// empty): remembered for this tab only, and the password field gets the focus.
const KEY = "hg-login-name";
const form = document.querySelector("form.login");
const name = form.elements.name;
const failed = document.querySelector(".message").textContent.trim() !== "";
const remembered = sessionStorage.getItem(KEY);
if (failed && remembered && !name.value) {
  name.value = remembered;
  form.elements.password.focus();
}
form.addEventListener("submit", () => sessionStorage.setItem(KEY, name.value));
