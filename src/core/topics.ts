/** A topic names one channel of one app everywhere inside wiremesh: `appId \0 channel`. */
const SEP = '\u0000';

export function topicOf(appId: string, channel: string): string {
  return appId + SEP + channel;
}

export function parseTopic(topic: string): { appId: string; channel: string } {
  const i = topic.indexOf(SEP);
  return { appId: topic.slice(0, i), channel: topic.slice(i + 1) };
}

/** The internal topic whose members are an app's signed-in users (watchlists, online state). */
export function usersTopic(appId: string): string {
  return appId + SEP + '#users';
}
