//! Listing the caller's meetings: `GET /meetings`, `GET /bots` (with `has_more`) and
//! `GET /bots/status` (the live bots). Query values are checked here, in the original's words.

use vexa_core::meeting::{Meeting, MeetingFilter, MeetingStatus, Platform};

use crate::caller::Caller;
use crate::error::{InvalidInput, Result};
use crate::state::AppState;
use crate::wire::meetings::ListQuery;

/// Rows of `GET /bots/status` (every live bot of one user fits).
const RUNNING_LIMIT: i64 = 1000;

/// `limit`/`offset`: an integer in `min..=max`, `default` when absent.
fn int_param(
    value: Option<&str>,
    field: &'static str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, InvalidInput> {
    let Some(raw) = value else {
        return Ok(default);
    };
    match raw.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(InvalidInput::OutOfRange { field, min, max }),
    }
}

fn platform_param(value: Option<&str>) -> Result<Option<Platform>, InvalidInput> {
    value
        .map(|p| Platform::parse(p).ok_or_else(|| InvalidInput::UnknownPlatform(p.to_owned())))
        .transpose()
}

/// The filter a listing query asks for: one `status`, or every non-planned one with
/// `exclude_planned=true|1|yes`; one `platform`; a page.
fn filter(query: &ListQuery) -> Result<MeetingFilter, InvalidInput> {
    let mut wanted = MeetingFilter {
        limit: int_param(query.limit.as_deref(), "limit", 50, 1, 100)?,
        offset: int_param(query.offset.as_deref(), "offset", 0, 0, i64::MAX)?,
        ..Default::default()
    };
    if let Some(s) = &query.status {
        let status =
            MeetingStatus::parse(s).ok_or_else(|| InvalidInput::UnknownStatus(s.clone()))?;
        wanted.statuses = vec![status];
    } else if matches!(query.exclude_planned.as_deref(), Some("true" | "1" | "yes")) {
        wanted.statuses = MeetingStatus::ALL
            .into_iter()
            .filter(|s| !s.is_planned())
            .collect();
    }
    wanted.platform = platform_param(query.platform.as_deref())?;
    Ok(wanted)
}

/// `GET /meetings`: a page of the caller's meetings, newest first.
pub async fn list(state: &AppState, caller: &Caller, query: &ListQuery) -> Result<Vec<Meeting>> {
    let wanted = filter(query)?;
    Ok(state.store.list(caller.user_id, &wanted).await?)
}

/// `GET /bots`: a page and whether there is a next one (one extra row tells).
pub async fn list_bots(
    state: &AppState,
    caller: &Caller,
    query: &ListQuery,
) -> Result<(Vec<Meeting>, bool)> {
    let mut wanted = filter(query)?;
    let limit = wanted.limit;
    wanted.limit += 1;
    let mut rows = state.store.list(caller.user_id, &wanted).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((rows, has_more))
}

/// `GET /bots/status`: the caller's live bots, optionally of one platform.
pub async fn running(state: &AppState, caller: &Caller, query: &ListQuery) -> Result<Vec<Meeting>> {
    let wanted = MeetingFilter {
        statuses: MeetingStatus::LIVE.to_vec(),
        limit: RUNNING_LIMIT,
        offset: 0,
        platform: platform_param(query.platform.as_deref())?,
    };
    Ok(state.store.list(caller.user_id, &wanted).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(limit: Option<&str>, status: Option<&str>) -> ListQuery {
        ListQuery {
            limit: limit.map(Into::into),
            status: status.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn paging_and_filters_are_checked_with_the_originals_words() {
        let detail = |query: ListQuery| filter(&query).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            detail(query(Some("0"), None)),
            Err("'limit' must be an integer between 1 and 100".to_owned())
        );
        assert_eq!(detail(query(Some(" 7 "), None)), Ok(()));
        assert_eq!(
            detail(query(None, Some("bogus"))),
            Err("unknown status 'bogus'".to_owned())
        );
        let query = ListQuery {
            platform: Some("skype".into()),
            ..Default::default()
        };
        assert_eq!(detail(query), Err("unknown platform 'skype'".to_owned()));
    }

    #[test]
    fn exclude_planned_leaves_out_plans_only() {
        let query = ListQuery {
            exclude_planned: Some("yes".into()),
            ..Default::default()
        };
        let wanted = filter(&query).unwrap_or_default();
        assert_eq!(wanted.statuses.len(), MeetingStatus::ALL.len() - 2);
        assert!(wanted.statuses.iter().all(|s| !s.is_planned()));
        assert_eq!((wanted.limit, wanted.offset), (50, 0));
    }
}
