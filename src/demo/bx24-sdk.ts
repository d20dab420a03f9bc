/**
 * What the simulated portal serves in place of Bitrix24's JS SDK (//api.bitrix24.com/api/v1/, which the demo must not
 * fetch): the calls the app's pages make, told to the Bitrix24 page around the frame by postMessage, as the real SDK
 * does. The demo's page marks the app installed when it hears `installFinish`.
 */
export const BX24_SDK = `(function () {
  var script = document.currentScript;
  var portal = script ? new URL(script.src).origin : '*';
  var tell = function (method) { try { window.parent.postMessage({ bx24: method }, portal); } catch (e) { /* not framed */ } };
  window.BX24 = {
    init: function (callback) { tell('init'); if (callback) setTimeout(callback, 0); },
    installFinish: function () { tell('installFinish'); },
    fitWindow: function () {},
    resizeWindow: function () {},
    reloadWindow: function () { window.location.reload(); },
    isAdmin: function () { return true; }
  };
})();
`;
