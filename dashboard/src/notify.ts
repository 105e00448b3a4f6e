// Browser notifications (the Notification API) for critical and exceeded budget alerts while a
// dashboard page is open. Permission is asked from a click (browsers refuse it otherwise); an
// alert id is notified once per page load.

const seen = new Set<string>();

export function notificationsSupported(): boolean {
  return typeof window !== 'undefined' && 'Notification' in window;
}

export function notificationPermission(): NotificationPermission | 'unsupported' {
  return notificationsSupported() ? Notification.permission : 'unsupported';
}

export async function askNotificationPermission(): Promise<NotificationPermission | 'unsupported'> {
  if (!notificationsSupported()) return 'unsupported';
  if (Notification.permission !== 'default') return Notification.permission;
  return Notification.requestPermission();
}

// Whether an alert of the stream (or the feed) calls for a notification.
export function wantsNotification(a: any): boolean {
  if (!a || typeof a !== 'object') return false;
  if (a.type && a.type !== 'budget_threshold_crossed') return false;
  return a.level === 'critical' || a.level === 'exceeded';
}

export function notifyAlert(a: any): void {
  if (!wantsNotification(a) || !notificationsSupported()) return;
  if (Notification.permission !== 'granted') return;
  const id = String(a.id ?? '');
  if (id && seen.has(id)) return;
  if (id) seen.add(id);
  const scope = a.scope ? `${a.scope.kind}${a.scope.id ? ' ' + a.scope.id : ''}` : '';
  try {
    new Notification(`Tally: ${a.level} budget alert${a.team_id ? ' · ' + a.team_id : ''}`, {
      body: a.message || `${scope} reached ${a.threshold_percent}% of its ${a.window} limit`,
      tag: id || undefined,
      requireInteraction: a.level === 'exceeded',
    });
  } catch (e) {
    console.warn('notification', e);
  }
}
