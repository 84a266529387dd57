export { MTChatPrime, PrimeButton } from "./mtchat-prime.ts";
export { injectPrimeTheme, primeThemeCss } from "./theme.ts";
