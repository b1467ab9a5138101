//! Meetings domain (owned by the meetings service work): meeting ids, platforms, bot status state
//! machine, transcript segments and the `MeetingStore` port. To be filled in.
